"""Orders in Django admin: read-only. An order changes only through its use cases (placed,
paid, cancelled, completed), each checking its rules, releasing stock once and writing its
audit row; the admin shows orders and their lines and writes nothing."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tally.orders.models import Order, OrderItem
from tally.platform.admin import ReadOnlyAdmin


class OrderItemInline(admin.TabularInline):
    """The order's lines, as snapshotted when it was placed."""

    model = OrderItem
    extra = 0
    can_delete = False
    fields = (
        "service_title",
        "variant_name",
        "sku",
        "vendor",
        "unit_price",
        "quantity",
        "line_total",
        "stock_reserved",
    )
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    # Amounts are integers of minor units of the order's currency.
    list_display = (
        "number",
        "status",
        "email",
        "customer",
        "currency",
        "total",
        "version",
        "created_at",
        "payment_due_at",
    )
    list_filter = ("status", "currency", "created_at")
    search_fields = ("=number", "email", "customer__user__email", "=id")
    list_select_related = ("customer__user",)
    ordering = ("-created_at",)
    inlines = (OrderItemInline,)
    # The stored hash of a guest's access token is of no use to anyone reading the page.
    exclude = ("access_token_hash",)
    raw_id_fields = ("customer",)
