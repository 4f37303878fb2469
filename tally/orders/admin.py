"""Orders in Django admin: read-only. An order changes only through its use cases (placed,
paid, cancelled, completed, refunded), each checking its rules, releasing stock once and
writing its audit row; the admin shows each order with its lines, its totals, its status
history (the audit rows) and links to its payments and refunds (by their admin URL names,
so this app imports nothing of payments, which depends on it). Refunds are made from the
payment's page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tally.orders.models import Order, OrderItem
from tally.platform.admin import ReadOnlyAdmin, audit_history_html
from tally.platform.money import from_minor


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
    readonly_fields = ("totals", "money_links", "history")

    @admin.display(description="totals")
    def totals(self, order: Order) -> str:
        return (
            f"{from_minor(order.subtotal)} + shipping {from_minor(order.shipping)} + tax "
            f"{from_minor(order.tax)} = {from_minor(order.total)} {order.currency}"
        )

    @admin.display(description="money")
    def money_links(self, order: Order) -> SafeString:
        return format_html(
            '<a href="{}?order={}">Payments</a> · <a href="{}?order={}">Refunds</a>',
            reverse("admin:payments_payment_changelist"),
            order.pk,
            reverse("admin:payments_refund_changelist"),
            order.pk,
        )

    @admin.display(description="status history")
    def history(self, order: Order) -> SafeString | str:
        return audit_history_html(order)
