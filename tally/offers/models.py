"""Offers: the catalog, customers' subscriptions, and the activations that buy them.

Amounts are integers of minor units in the offer's currency. Every status change goes
through ``tally.platform.status.status_transition`` (the machines below).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from tally.identity.models import CustomerProfile, PartnerProfile
from tally.ledger.models import Transfer
from tally.platform.status import StatusMachine


class OfferKind(models.TextChoices):
    INTERNET = "internet", "Internet"
    TV = "tv", "TV"
    VOICE = "voice", "Voice"
    BUNDLE = "bundle", "Bundle"


def default_currency() -> str:
    return str(settings.TALLY_CURRENCY)


class Offer(models.Model):
    """A subscription bundle customers can buy from their wallet."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=OfferKind.choices)
    description = models.TextField(blank=True)
    # Minor units of ``currency``.
    price = models.BigIntegerField()
    currency = models.CharField(max_length=3, default=default_currency)
    # How long one purchase (or renewal) lasts.
    validity_days = models.PositiveIntegerField()
    # Quotas; null means "not part of this offer" (e.g. no TV channels in an internet offer).
    data_mb = models.PositiveBigIntegerField(null=True, blank=True)
    voice_minutes = models.PositiveIntegerField(null=True, blank=True)
    sms = models.PositiveIntegerField(null=True, blank=True)
    tv_channels = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gt=0), name="offer_price_positive"),
            models.CheckConstraint(
                condition=models.Q(validity_days__gt=0), name="offer_validity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="offer_currency_format"
            ),
        ]
        indexes = [models.Index(fields=["is_active", "kind", "price"], name="offer_catalog_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


class Subscription(models.Model):
    """A customer's subscription to an offer, active until ``expires_at``."""

    status_machine = StatusMachine(
        states={
            SubscriptionStatus.PENDING: "bought; its first activation has not succeeded yet",
            SubscriptionStatus.ACTIVE: "provisioned and paid; valid until expires_at",
            SubscriptionStatus.EXPIRED: "its validity ran out without a renewal",
            SubscriptionStatus.CANCELLED: "ended for good (first activation failed, or cancelled)",
        },
        transitions={
            SubscriptionStatus.PENDING: (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED),
            SubscriptionStatus.ACTIVE: (SubscriptionStatus.EXPIRED, SubscriptionStatus.CANCELLED),
            # A recently expired subscription may be renewed back to active.
            SubscriptionStatus.EXPIRED: (SubscriptionStatus.ACTIVE,),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        CustomerProfile, on_delete=models.PROTECT, related_name="subscriptions"
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING
    )
    started_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    auto_renew = models.BooleanField(default=False)
    # The expiry a reminder was sent for: one reminder per subscription period.
    reminded_for_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status__in=["active", "expired"])
                | models.Q(expires_at__isnull=False, started_at__isnull=False),
                name="subscription_active_has_period",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="subscription_customer_idx"),
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status="active"),
                name="subscription_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"subscription {self.id} ({self.status})"


class ActivationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ActivationSource(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    PARTNER = "partner", "Partner"
    AUTO_RENEW = "auto_renew", "Auto-renewal"


class Activation(models.Model):
    """One purchase (or renewal) of an offer: the price reserved on the customer's wallet,
    the provider called by a worker, then the reservation posted or voided."""

    status_machine = StatusMachine(
        states={
            ActivationStatus.PENDING: "accepted; the price is reserved; the provider not called yet",
            ActivationStatus.PROCESSING: "a worker claimed it and is calling the provider",
            ActivationStatus.SUCCEEDED: "provisioned; the reservation was posted",
            ActivationStatus.FAILED: "refused or unreachable; the reservation was voided",
        },
        transitions={
            ActivationStatus.PENDING: (ActivationStatus.PROCESSING, ActivationStatus.FAILED),
            ActivationStatus.PROCESSING: (ActivationStatus.SUCCEEDED, ActivationStatus.FAILED),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Public, human-friendly reference (``ACT-…``), unique.
    reference = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(
        CustomerProfile, on_delete=models.PROTECT, related_name="activations"
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="activations")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="activations"
    )
    source = models.CharField(max_length=16, choices=ActivationSource.choices)
    partner = models.ForeignKey(
        PartnerProfile, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The partner's own reference: unique per partner (a repeat returns the first).
    partner_reference = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # Minor units reserved on the wallet (the offer's price when accepted).
    amount = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=ActivationStatus.choices, default=ActivationStatus.PENDING
    )
    # The pending transfer that reserves the price, and the post or void that resolved it.
    pending_transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="+")
    resolution_transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    provider_reference = models.CharField(max_length=100, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="activation_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["partner", "partner_reference"],
                condition=models.Q(partner_reference__isnull=False),
                name="activation_partner_reference_unique",
            ),
            # Final exactly when resolved in the ledger.
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["succeeded", "failed"], resolution_transfer__isnull=False
                )
                | models.Q(status__in=["pending", "processing"], resolution_transfer__isnull=True),
                name="activation_final_has_resolution",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="activation_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"activation {self.reference} ({self.status})"
