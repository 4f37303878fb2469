"""Read-only top-up pages. Sales happen only through the API's services, never the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tally.topups.models import ChargeSale, PhoneNumber


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and detail pages only: no add, change or delete, not even for superusers."""

    # Exact counts of large tables are slow; the pages do not need them.
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChargeSale)
class ChargeSaleAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "vendor", "phone_number", "amount", "transfer")
    search_fields = ("phone_number__number", "vendor__user__email", "vendor__business_name")
    list_select_related = ("vendor", "phone_number")
    ordering = ("-created_at",)
    raw_id_fields = ("vendor", "phone_number", "transfer")


@admin.register(PhoneNumber)
class PhoneNumberAdmin(ReadOnlyAdmin):
    """Numbers change through the API (services with their checks and audit events)."""

    list_display = ("number", "label", "created_by", "created_at")
    search_fields = ("number", "label", "created_by__email")
    list_select_related = ("created_by",)
    ordering = ("-created_at",)
