"""Notifications: every email Tally sends a user or a guest, recorded with its outcome.

A row is written in the transaction of the change it reports (an activation settling, a
subscription expiring, an order placed), so a notification exists exactly when that change
committed; the worker delivers it afterwards. Every status change goes through
``tally.platform.status.status_transition`` (the machine below).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from tally.platform.status import StatusMachine


class NotificationKind(models.TextChoices):
    """What happened; each kind has its templates in ``templates/notifications/``."""

    ACTIVATION_SUCCEEDED = "activation_succeeded", "Activation succeeded"
    ACTIVATION_FAILED = "activation_failed", "Activation failed"
    SUBSCRIPTION_EXPIRING = "subscription_expiring", "Subscription expiring"
    SUBSCRIPTION_RENEWED = "subscription_renewed", "Subscription renewed"
    SUBSCRIPTION_EXPIRED = "subscription_expired", "Subscription expired"
    ORDER_PLACED = "order_placed", "Order placed"
    ORDER_CANCELLED = "order_cancelled", "Order cancelled"
    INVOICE_ISSUED = "invoice_issued", "Invoice issued"
    LOW_CREDIT = "low_credit", "Low prepaid credit"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One email to one user (or one guest's address) about one event, and how its delivery
    went."""

    status_machine = StatusMachine(
        states={
            NotificationStatus.QUEUED: "recorded; the worker has not delivered it yet (or retries)",
            NotificationStatus.SENT: "the mail server accepted it",
            NotificationStatus.FAILED: "every delivery attempt failed; no more retries",
        },
        transitions={
            NotificationStatus.QUEUED: (NotificationStatus.SENT, NotificationStatus.FAILED),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null for a guest (someone who bought without an account): only ``recipient`` names them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    # The address it was sent to: the user's email when the notification was recorded, or
    # the guest's address as the caller gave it.
    recipient = models.EmailField(max_length=254)
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # The values the templates show (see docs/notifications.md for the keys of each kind).
    context = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    # Files sent with the email, read from Django's default storage when it is delivered:
    # [{"path": storage name, "filename": shown to the reader, "content_type": MIME type}].
    attachments = models.JSONField(default=list, blank=True)
    # The caller's name for the event; a second notification with the same key is never
    # recorded (e.g. ``expiring:<subscription>:<expires_at>``: one reminder per period).
    dedup_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED
    )
    # Delivery attempts started so far (1 for the first).
    attempts = models.PositiveIntegerField(default=0)
    # Why the latest failed attempt failed (kept after a later success).
    last_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="notification_sent_has_sent_at",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="failed") | models.Q(failed_at__isnull=False),
                name="notification_failed_has_failed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_idx"),
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="queued"),
                name="notification_queued_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.status})"
