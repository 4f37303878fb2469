"""Payments of orders: one ``Payment`` per attempt, and its append-only event log.

Amounts are integers of minor units in the order's currency. Every status change goes
through ``tally.platform.status.status_transition``. The database keeps at most one payment
in flight (initiated or authorized) and at most one captured payment per order.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from tally.orders.models import Order
from tally.platform.status import StatusMachine


class PaymentMethod(models.TextChoices):
    CREDIT_CARD = "credit_card", "Credit card"
    DEBIT_CARD = "debit_card", "Debit card"
    PAYPAL = "paypal", "PayPal"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    CASH = "cash", "Cash"
    CRYPTO = "crypto", "Crypto"
    WALLET = "wallet", "Wallet"


class PaymentStatus(models.TextChoices):
    INITIATED = "initiated", "Initiated"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Captured"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"


IN_FLIGHT = (PaymentStatus.INITIATED, PaymentStatus.AUTHORIZED)
CAPTURED_STATES = (
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)


class Payment(models.Model):
    """One attempt to pay one order, through one gateway."""

    status_machine = StatusMachine(
        states={
            PaymentStatus.INITIATED: "accepted; the gateway has not answered yet",
            PaymentStatus.AUTHORIZED: "the gateway holds the funds; not captured yet",
            PaymentStatus.CAPTURED: "paid; the money was split in the ledger",
            PaymentStatus.FAILED: "declined, rejected or given up; nothing was captured",
            PaymentStatus.CANCELLED: "withdrawn before capture (the order was cancelled)",
            PaymentStatus.REFUNDED: "captured, then refunded in full",
            PaymentStatus.PARTIALLY_REFUNDED: "captured, then refunded in part",
        },
        transitions={
            PaymentStatus.INITIATED: (
                PaymentStatus.AUTHORIZED,
                PaymentStatus.CAPTURED,
                PaymentStatus.FAILED,
                PaymentStatus.CANCELLED,
            ),
            PaymentStatus.AUTHORIZED: (
                PaymentStatus.CAPTURED,
                PaymentStatus.FAILED,
                PaymentStatus.CANCELLED,
            ),
            PaymentStatus.CAPTURED: (PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED),
            PaymentStatus.PARTIALLY_REFUNDED: (PaymentStatus.REFUNDED,),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=16, choices=PaymentMethod.choices)
    # Which adapter handles it: "sandbox", "sslcommerz", "wallet", "manual".
    gateway = models.CharField(max_length=16)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.INITIATED
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    refunded_amount = models.BigIntegerField(default=0)
    # The gateway's id of this payment (session, transaction or charge id); "" until known.
    gateway_reference = models.CharField(max_length=128, blank=True)
    # Where the buyer completes a hosted payment (SSLCommerz); "" for the others.
    redirect_url = models.URLField(max_length=1000, blank=True)
    # The last four digits of a test or real card, never the number.
    card_last4 = models.CharField(max_length=4, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    captured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="payment_refunds_within_amount",
            ),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status__in=[PaymentStatus.INITIATED, PaymentStatus.AUTHORIZED]),
                name="payment_one_in_flight_per_order",
            ),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status__in=list(CAPTURED_STATES)),
                name="payment_one_captured_per_order",
            ),
            models.UniqueConstraint(
                fields=["gateway", "gateway_reference"],
                condition=~Q(gateway_reference=""),
                name="payment_gateway_reference_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["order", "-created_at"], name="payment_order_idx"),
            models.Index(
                fields=["gateway", "updated_at"],
                condition=Q(status__in=[PaymentStatus.INITIATED, PaymentStatus.AUTHORIZED]),
                name="payment_in_flight_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.status} ({self.pk})"


class PaymentEventKind(models.TextChoices):
    REQUEST = "request", "Request"
    GATEWAY_ANSWER = "gateway_answer", "Gateway answer"
    WEBHOOK = "webhook", "Webhook"
    VALIDATION = "validation", "Validation"
    ADMIN = "admin", "Admin action"
    REFUND = "refund", "Refund"


class PaymentEvent(models.Model):
    """One thing that happened to a payment: append-only, with the payload's SHA-256."""

    id = models.BigAutoField(primary_key=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=PaymentEventKind.choices)
    # What was sent or received, secrets removed (see tally.payments.events).
    payload = models.JSONField(default=dict)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["payment", "id"], name="payment_event_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RefundDestination(models.TextChoices):
    # Back through the gateway that took the money (a card refund, cash paid back).
    ORIGINAL = "original", "Original method"
    # Into the customer's wallet (customers' orders only).
    WALLET = "wallet", "Wallet"


class Refund(models.Model):
    """Money given back for a captured payment: the whole of it, part of it, or some lines."""

    status_machine = StatusMachine(
        states={
            RefundStatus.PENDING: "accepted; the gateway has not confirmed it yet",
            RefundStatus.SUCCEEDED: "paid back; the ledger movements were written",
            RefundStatus.FAILED: "the gateway refused it; nothing was paid back",
        },
        transitions={RefundStatus.PENDING: (RefundStatus.SUCCEEDED, RefundStatus.FAILED)},
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    destination = models.CharField(max_length=16, choices=RefundDestination.choices)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    reason = models.CharField(max_length=500, blank=True)
    gateway_reference = models.CharField(max_length=128, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]
        indexes = [models.Index(fields=["payment", "-created_at"], name="refund_payment_idx")]

    def __str__(self) -> str:
        return f"refund {self.amount} ({self.status})"


class RefundLine(models.Model):
    """The part of a refund that gives back (part of) one order line."""

    id = models.BigAutoField(primary_key=True)
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(
        "orders.OrderItem", on_delete=models.PROTECT, related_name="refund_lines"
    )
    amount = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_line_amount_positive"),
            models.UniqueConstraint(fields=["refund", "item"], name="refund_line_one_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of item {self.item_id}"
