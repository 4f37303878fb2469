"""Read-only log of partner callback attempts: what each partner answered, and when."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tally.partners.models import CallbackAttempt


@admin.register(CallbackAttempt)
class CallbackAttemptAdmin(admin.ModelAdmin):
    list_display = ("activation", "attempt", "status_code", "duration_ms", "error", "created_at")
    list_filter = ("status_code",)
    search_fields = ("activation__reference", "activation__partner_reference")
    readonly_fields = (
        "activation",
        "attempt",
        "url",
        "status_code",
        "error",
        "duration_ms",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
