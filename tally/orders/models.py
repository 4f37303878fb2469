"""Orders: what a customer or a guest bought from the marketplace, and its lifecycle.

Amounts are integers of minor units in the order's currency. An order's totals are computed
by ``tally.orders.services`` from the variants' prices when it is placed, and its items
keep a snapshot of what was bought (title, variant name, sku, unit price), so later catalog
changes never rewrite an order. Every status change goes through
``tally.platform.status.status_transition`` and adds one to ``version`` (the ``ETag``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from tally.catalog.models import Variant
from tally.identity.models import CustomerProfile, VendorProfile
from tally.platform.status import StatusMachine


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    CONFIRMED = "confirmed", "Confirmed"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"


# The states whose order still holds the stock it reserved.
STOCK_HOLDING_STATES = (OrderStatus.PENDING, OrderStatus.PROCESSING)


class Order(models.Model):
    """One checkout: lines from one or more vendors, paid once."""

    status_machine = StatusMachine(
        states={
            OrderStatus.PENDING: "placed; stock reserved; waiting for payment",
            OrderStatus.PROCESSING: "a payment is in progress",
            OrderStatus.CONFIRMED: "paid; the vendors deliver",
            OrderStatus.COMPLETED: "delivered",
            OrderStatus.FAILED: "the payment failed; the stock was released",
            OrderStatus.CANCELLED: "cancelled (by the buyer, an admin, or payment timeout) "
            "before it was paid; the stock was released",
            OrderStatus.REFUNDED: "paid, then refunded in full",
            OrderStatus.PARTIALLY_REFUNDED: "paid, then refunded in part",
        },
        transitions={
            OrderStatus.PENDING: (
                OrderStatus.PROCESSING,
                OrderStatus.CONFIRMED,
                OrderStatus.FAILED,
                OrderStatus.CANCELLED,
            ),
            OrderStatus.PROCESSING: (
                OrderStatus.CONFIRMED,
                OrderStatus.FAILED,
                # A payment attempt that ended without money moving: pay again.
                OrderStatus.PENDING,
            ),
            OrderStatus.CONFIRMED: (
                OrderStatus.COMPLETED,
                OrderStatus.REFUNDED,
                OrderStatus.PARTIALLY_REFUNDED,
            ),
            OrderStatus.COMPLETED: (OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED),
            OrderStatus.PARTIALLY_REFUNDED: (OrderStatus.REFUNDED,),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Human-readable and unique: "ORD-" and 10 characters of Crockford base32.
    number = models.CharField(max_length=20, unique=True)
    # Null for a guest checkout.
    customer = models.ForeignKey(
        CustomerProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # Contact details (a guest's own; a customer's copied from its profile at checkout).
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=120)
    phone = models.CharField(max_length=20, blank=True)
    # {"line1", "line2", "city", "region", "postal_code", "country"} (validated on input).
    shipping_address = models.JSONField(default=dict)
    # SHA-256 of a guest order's access token (shown once); empty for customers' orders.
    access_token_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField()
    shipping = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField()
    # Optimistic locking: one more on every write (the ETag).
    version = models.PositiveIntegerField(default=1)
    # An unpaid order is cancelled at this time and its stock released.
    payment_due_at = models.DateTimeField()
    # Why it was cancelled or failed ("customer_request", "payment_timeout", …).
    status_reason = models.CharField(max_length=64, blank=True)
    stock_released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(subtotal__gt=0) & Q(shipping__gte=0) & Q(tax__gte=0),
                name="order_amounts_valid",
            ),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") + F("shipping") + F("tax")),
                name="order_total_is_sum",
            ),
            models.CheckConstraint(
                condition=Q(customer__isnull=False) | ~Q(access_token_hash=""),  # nosec B106  # an empty hash in a constraint, not a password
                name="order_guest_has_token",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="order_currency_format"
            ),
            # Released stock goes with a state that no longer holds it, and only with one.
            models.CheckConstraint(
                condition=Q(stock_released_at__isnull=True)
                | Q(status__in=[OrderStatus.CANCELLED, OrderStatus.FAILED]),
                name="order_stock_released_when_ended",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_customer_idx"),
            models.Index(fields=["status", "-created_at"], name="order_status_idx"),
            models.Index(
                fields=["payment_due_at"],
                condition=Q(status=OrderStatus.PENDING),
                name="order_payment_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderItem(models.Model):
    """One line of an order: a variant, how many, and what it cost then."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="order_items")
    # The vendor paid for this line (the service's owner when it was ordered).
    vendor = models.ForeignKey(VendorProfile, on_delete=models.PROTECT, related_name="order_items")
    # Snapshot at checkout.
    service_title = models.CharField(max_length=200)
    variant_name = models.CharField(max_length=120)
    sku = models.CharField(max_length=64)
    unit_price = models.BigIntegerField()
    quantity = models.PositiveIntegerField()
    line_total = models.BigIntegerField()
    # Whether this line took units from a limited stock (and gives them back on release).
    stock_reserved = models.BooleanField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_price__gt=0) & Q(quantity__gt=0), name="order_item_positive"
            ),
            models.CheckConstraint(
                condition=Q(line_total=F("unit_price") * F("quantity")),
                name="order_item_total_is_product",
            ),
            models.UniqueConstraint(fields=["order", "variant"], name="order_item_one_per_variant"),
        ]
        indexes = [
            models.Index(fields=["vendor", "-created_at"], name="order_item_vendor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"
