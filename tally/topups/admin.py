"""Read-only top-up pages. Sales happen only through the API's services, never the admin."""

from __future__ import annotations

from django.contrib import admin

from tally.platform.admin import ReadOnlyAdmin
from tally.topups.models import ChargeSale, PhoneNumber


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
