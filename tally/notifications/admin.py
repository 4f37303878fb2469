"""Notifications in Django admin: a read-only record of every email and its delivery."""

from __future__ import annotations

from django.contrib import admin

from tally.notifications.models import Notification
from tally.platform.admin import ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "recipient",
        "kind",
        "status",
        "attempts",
        "sent_at",
        "failed_at",
        "last_error",
    )
    list_filter = ("status", "kind")
    search_fields = ("recipient", "user__email", "dedup_key")
    list_select_related = ("user",)
    ordering = ("-created_at",)
