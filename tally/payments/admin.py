"""Payments and refunds in Django admin: read-only. Money moves only through the use cases
(captured, split, refunded under their locks and guards); the admin shows each payment with
its event log and each refund with its lines. Cash and bank transfers are confirmed through
``POST payments/{id}/confirm/`` (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tally.payments.models import Payment, PaymentEvent, Refund, RefundLine
from tally.platform.admin import ReadOnlyAdmin


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PaymentEventInline(_ReadOnlyInline):
    model = PaymentEvent
    fields = ("created_at", "kind", "payload", "digest")
    readonly_fields = fields
    ordering = ("id",)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    # Amounts are integers of minor units of the payment's currency.
    list_display = (
        "id",
        "order",
        "method",
        "gateway",
        "status",
        "amount",
        "refunded_amount",
        "currency",
        "created_at",
    )
    list_filter = ("status", "method", "gateway", "created_at")
    search_fields = ("=id", "=order__number", "order__email", "=gateway_reference")
    list_select_related = ("order",)
    ordering = ("-created_at",)
    raw_id_fields = ("order", "payer")
    inlines = (PaymentEventInline,)


class RefundLineInline(_ReadOnlyInline):
    model = RefundLine
    fields = ("item", "amount")
    readonly_fields = fields


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "amount", "destination", "status", "created_at")
    list_filter = ("status", "destination", "created_at")
    search_fields = ("=id", "=order__number", "=payment__id", "=gateway_reference")
    list_select_related = ("order",)
    ordering = ("-created_at",)
    raw_id_fields = ("order", "payment", "requested_by")
    inlines = (RefundLineInline,)
