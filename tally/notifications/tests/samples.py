"""A complete context for each kind of notification, and a way to send one in a test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from tally.identity.models import User
from tally.notifications.models import Notification, NotificationKind
from tally.notifications.services import notification_send

EXPIRES_AT = datetime(2026, 12, 31, 18, 30, tzinfo=UTC)
PAYMENT_DUE_AT = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)
GUEST_ORDER_URL = "https://tally.example/orders/0b5c1d2e/?access_token=tok_9f8e7d6c5b4a"

CONTEXTS: dict[str, dict[str, Any]] = {
    NotificationKind.ACTIVATION_SUCCEEDED: {
        "customer_name": "Ada Lovelace",
        "offer_name": "Internet 10 GB",
        "price": "15.00",
        "currency": "USD",
        "reference": "ACT-7K2M9QX4PD",
        "expires_at": EXPIRES_AT,
    },
    NotificationKind.ACTIVATION_FAILED: {
        "customer_name": "Ada Lovelace",
        "offer_name": "Internet 10 GB",
        "price": "15.00",
        "currency": "USD",
        "reference": "ACT-7K2M9QX4PD",
        "failure_reason": "the provider refused to activate it",
    },
    NotificationKind.SUBSCRIPTION_EXPIRING: {
        "customer_name": "Ada Lovelace",
        "offer_name": "Internet 10 GB",
        "expires_at": EXPIRES_AT,
        "auto_renew": False,
    },
    NotificationKind.SUBSCRIPTION_RENEWED: {
        "customer_name": "Ada Lovelace",
        "offer_name": "Internet 10 GB",
        "price": "15.00",
        "currency": "USD",
        "reference": "ACT-3JQ8W2ZC5M",
        "expires_at": EXPIRES_AT,
    },
    NotificationKind.SUBSCRIPTION_EXPIRED: {
        "customer_name": "Ada Lovelace",
        "offer_name": "Internet 10 GB",
        "expires_at": EXPIRES_AT,
    },
    # A customer's order: no link (the customer opens it from the account).
    NotificationKind.ORDER_PLACED: {
        "name": "Ada Lovelace",
        "order_number": "ORD-7K2M9QX4PD",
        "total": "37.50",
        "currency": "USD",
        "items": [
            {
                "title": "Home cleaning",
                "variant": "Standard",
                "quantity": 2,
                "line_total": "25.00",
            },
            {"title": "Window cleaning", "variant": "", "quantity": 1, "line_total": "12.50"},
        ],
        "payment_due_at": PAYMENT_DUE_AT,
    },
    NotificationKind.ORDER_CANCELLED: {
        "name": "Ada Lovelace",
        "order_number": "ORD-7K2M9QX4PD",
        "reason": "it was not paid in time",
    },
    NotificationKind.INVOICE_ISSUED: {
        "name": "Ada Lovelace",
        "order_number": "ORD-7K2M9QX4PD",
        "invoice_number": "INV-2026-000042",
        "total": "37.50",
        "currency": "USD",
    },
    NotificationKind.LOW_CREDIT: {
        "name": "Ada Lovelace",
        "balance": "49.99",
        "threshold": "50.00",
        "currency": "USD",
    },
}
# A guest's order: the same, with the link that carries the order's access token.
GUEST_ORDER_PLACED = {**CONTEXTS[NotificationKind.ORDER_PLACED], "order_url": GUEST_ORDER_URL}


def send(
    user: User,
    *,
    kind: str = NotificationKind.ACTIVATION_SUCCEEDED,
    dedup_key: str | None = None,
    context: dict[str, Any] | None = None,
) -> str:
    """Send a notification in a transaction of its own, as a committed caller would; return
    its dedup key."""
    key = dedup_key or f"test:{uuid.uuid4().hex}"
    with transaction.atomic():
        notification_send(
            user=user,
            kind=kind,
            context=CONTEXTS[kind] if context is None else context,
            dedup_key=key,
        )
    return key


def send_to_guest(
    recipient: str,
    *,
    kind: str = NotificationKind.ORDER_PLACED,
    dedup_key: str | None = None,
    context: dict[str, Any] | None = None,
) -> str:
    """Send a notification to a guest's address (no user), committed; return its dedup key."""
    key = dedup_key or f"test:{uuid.uuid4().hex}"
    if context is None:
        context = GUEST_ORDER_PLACED if kind == NotificationKind.ORDER_PLACED else CONTEXTS[kind]
    with transaction.atomic():
        notification_send(recipient=recipient, kind=kind, context=context, dedup_key=key)
    return key


def send_then_roll_back(user: User, *, dedup_key: str) -> None:
    """Notify inside a caller's transaction that then fails (RuntimeError) and rolls back."""
    with transaction.atomic():
        notification_send(
            user=user,
            kind=NotificationKind.SUBSCRIPTION_EXPIRED,
            context=CONTEXTS[NotificationKind.SUBSCRIPTION_EXPIRED],
            dedup_key=dedup_key,
        )
        raise RuntimeError("the caller's change failed")


def notification(dedup_key: str) -> Notification:
    return Notification.objects.get(dedup_key=dedup_key)
