"""Low-credit alerts: tell a vendor once when its prepaid credit falls below its threshold.

A vendor (or an admin for it) sets ``VendorProfile.low_credit_threshold`` (minor units;
null or 0: off) and, optionally, ``alert_webhook_url``. A debit of the vendor's prepaid
account that takes the posted balance from at or above the threshold to below it is a
*crossing*; each crossing enqueues exactly one alert, in the debit's own transaction:

- an email to the vendor (``tally.notifications``, kind ``low_credit``, dedup key
  ``low_credit:<transfer id>``), and
- if a webhook URL is set, a signed POST (``tally.credit.low_credit_webhook``, an outbox
  call-out job signed like partners' callbacks: ``X-Tally-Signature: t=…,v1=…``).

The crossing is read from the balance the debit's own ledger statement returns (``before =
after + amount``), so a debit that crosses nothing costs a comparison of integers and no
query. Concurrent debits of one vendor are serialized by the ledger on the account row (each
holds it until commit), so every debit sees the exact balance it left and only one of them
can cross. A credit back to or above the threshold re-arms it by itself: the next debit
that crosses is a new crossing. Vendor prepaid accounts carry no pending debits, so the
posted balance is the available credit. See docs/alerts.md.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from django.conf import settings
from django.db import transaction
from prometheus_client import Counter

from tally.identity.models import User, VendorProfile
from tally.ledger.models import Account, Transfer
from tally.notifications.models import NotificationKind
from tally.notifications.services import notification_send
from tally.platform.audit.services import audit_record
from tally.platform.db import require_transaction, use_case
from tally.platform.exceptions import PermissionDeniedError
from tally.platform.money import from_minor
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)

WEBHOOK_TASK_NAME = "tally.credit.low_credit_webhook"
WEBHOOK_EVENT = "vendor.low_credit"
SIGNATURE_HEADER = "X-Tally-Signature"
# The same for every attempt of one alert: the vendor may ignore a repeat it has seen.
DELIVERY_HEADER = "X-Tally-Delivery"
DEDUP_KEY_PREFIX = "low_credit:"

# Tunables (overridable in settings); the defaults retry for about 20 minutes in all.
DEFAULT_WEBHOOK_MAX_ATTEMPTS = 8
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0
DEFAULT_WEBHOOK_BACKOFF_SECONDS = 10.0
WEBHOOK_BACKOFF_MAX_SECONDS = 3600.0
# A claim older than this is presumed dead: well above the longest call.
WEBHOOK_CLAIM_TIMEOUT_SECONDS = 60.0

# Counted once the step's transaction committed. delivered: the vendor's endpoint answered
# 2xx; failed_attempt: one attempt was not accepted (retried); gave_up: the last attempt
# failed too; skipped: the vendor removed its webhook URL before delivery.
WEBHOOKS = Counter(
    "tally_low_credit_webhooks_total", "Low-credit alert webhook deliveries by outcome", ["outcome"]
)


def low_credit_crossed(*, threshold_minor: int | None, after_minor: int, amount_minor: int) -> bool:
    """True if a debit of ``amount_minor`` that left ``after_minor`` took the balance from at
    or above ``threshold_minor`` to below it (never for a null or 0 threshold). Pure
    arithmetic: the sale path inlines the same comparison."""
    return bool(threshold_minor) and after_minor < threshold_minor <= after_minor + amount_minor  # type: ignore[operator]


def low_credit_alert_enqueue(
    *,
    vendor: VendorProfile,
    account: Account,
    transfer: Transfer,
    balance_after_minor: int,
) -> None:
    """Record the alert of a debit that crossed ``vendor``'s threshold: the email to the
    vendor and, if it set a webhook URL, the signed POST. Call it only for a crossing
    (``low_credit_crossed``).

    Runs in the debit's transaction (``require_transaction``): both commit with the debit,
    or neither if it rolls back; both are sent once after commit (the outbox). Keyed by the
    transfer (``low_credit:<transfer id>``), so a repeat for the same debit records
    nothing. Locks the new notification row. Enqueues ``tally.notifications.
    notification_deliver`` and, with a webhook URL, ``tally.credit.low_credit_webhook``.
    """
    require_transaction()
    threshold_minor = int(vendor.low_credit_threshold or 0)
    before_minor = balance_after_minor + int(transfer.amount)
    notification_send(
        user=vendor.user,
        kind=NotificationKind.LOW_CREDIT,
        context={
            "name": vendor.business_name,
            "balance": from_minor(balance_after_minor),
            "threshold": from_minor(threshold_minor),
            "currency": account.currency,
            "previous_balance": from_minor(before_minor),
            "transfer_id": str(transfer.pk),
        },
        dedup_key=f"{DEDUP_KEY_PREFIX}{transfer.pk}",
    )
    if vendor.alert_webhook_url:
        outbox_enqueue(
            task_name=WEBHOOK_TASK_NAME,
            payload={
                "vendor_id": str(vendor.pk),
                "body": webhook_body(
                    vendor=vendor,
                    transfer=transfer,
                    currency=account.currency,
                    threshold_minor=threshold_minor,
                    before_minor=before_minor,
                    after_minor=balance_after_minor,
                ).decode(),
            },
        )


def webhook_body(
    *,
    vendor: VendorProfile,
    transfer: Transfer,
    currency: str,
    threshold_minor: int,
    before_minor: int,
    after_minor: int,
) -> bytes:
    """The webhook's raw JSON body, fixed when the alert is recorded (every attempt sends
    these bytes)."""
    document: dict[str, Any] = {
        "event": WEBHOOK_EVENT,
        "vendor_id": str(vendor.pk),
        "balance": from_minor(after_minor),
        "previous_balance": from_minor(before_minor),
        "threshold": from_minor(threshold_minor),
        "currency": currency,
        "transfer_id": str(transfer.pk),
        "occurred_at": transfer.created_at.isoformat(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Tally-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds):
    ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``, the scheme of
    partners' callbacks (docs/partners.md), so one verifier serves both."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- settings ---------------------------------------------------------------------------


class _Unset:
    """No value given for an optional field (distinct from None, which means "off")."""


UNSET: Any = _Unset()


@dataclass(frozen=True)
class LowCreditAlertSettings:
    vendor: VendorProfile
    # The new signing secret, only when this call generated one (shown once).
    new_webhook_secret: str | None = None


@use_case
def vendor_low_credit_alert_update(
    *,
    actor: User,
    vendor: VendorProfile,
    threshold_minor: int | None = UNSET,
    webhook_url: str = UNSET,
    rotate_webhook_secret: bool = False,
) -> LowCreditAlertSettings:
    """Set ``vendor``'s low-credit threshold (minor units; None or 0: off) and/or alert
    webhook URL ("": none), for an admin or the vendor itself (403 otherwise). The caller
    has validated the values (a threshold of 0 to the largest amount; an http(s) URL).

    A signing secret is generated the first time a webhook URL is set, and again when
    ``rotate_webhook_secret`` is asked; it is returned only then (``new_webhook_secret``).
    A new threshold applies from the next debit: it alerts nothing by itself, even when the
    credit is already below it. Audited (``vendor.low_credit_alert_updated``; a secret shows
    only as rotated) when something changed. Locks the vendor's profile row for the update.
    Enqueues nothing.
    """
    if not (actor.is_admin or actor.id == vendor.user_id):
        raise PermissionDeniedError("Only admins and the vendor itself change its alerts.")
    changes: dict[str, list[Any]] = {}
    fields: dict[str, Any] = {}
    if threshold_minor is not UNSET and threshold_minor != vendor.low_credit_threshold:
        changes["low_credit_threshold"] = [vendor.low_credit_threshold, threshold_minor]
        fields["low_credit_threshold"] = threshold_minor
    if webhook_url is not UNSET and webhook_url != vendor.alert_webhook_url:
        changes["alert_webhook_url"] = [vendor.alert_webhook_url, webhook_url]
        fields["alert_webhook_url"] = webhook_url
    url_after = fields.get("alert_webhook_url", vendor.alert_webhook_url)
    new_secret: str | None = None
    if url_after and (rotate_webhook_secret or not vendor.alert_webhook_secret):
        new_secret = secrets.token_urlsafe(32)
        changes["alert_webhook_secret"] = [
            "set" if vendor.alert_webhook_secret else None,
            "rotated" if vendor.alert_webhook_secret else "set",
        ]
        fields["alert_webhook_secret"] = new_secret
    if fields:
        VendorProfile.objects.filter(pk=vendor.pk).update(**fields)
        for name, value in fields.items():
            setattr(vendor, name, value)
        audit_record(
            actor=actor, action="vendor.low_credit_alert_updated", target=vendor, changes=changes
        )
    return LowCreditAlertSettings(vendor=vendor, new_webhook_secret=new_secret)


# --- webhook delivery (outbox call-out job) ----------------------------------------------


def webhook_max_attempts() -> int:
    return int(getattr(settings, "LOW_CREDIT_WEBHOOK_MAX_ATTEMPTS", DEFAULT_WEBHOOK_MAX_ATTEMPTS))


def webhook_timeout_seconds() -> float:
    return float(
        getattr(settings, "LOW_CREDIT_WEBHOOK_TIMEOUT_SECONDS", DEFAULT_WEBHOOK_TIMEOUT_SECONDS)
    )


def webhook_backoff_seconds(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt``: the base, then doubling, capped."""
    base = float(
        getattr(settings, "LOW_CREDIT_WEBHOOK_BACKOFF_SECONDS", DEFAULT_WEBHOOK_BACKOFF_SECONDS)
    )
    return min(WEBHOOK_BACKOFF_MAX_SECONDS, base * 2 ** min(attempt - 1, 30))


class WebhookDeliveryError(RuntimeError):
    """The vendor's endpoint did not accept the alert (the job retries)."""


def webhook_address_check(url: str) -> None:
    """Raise ``WebhookDeliveryError`` unless every address ``url``'s host resolves to is a
    public one (or ``LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is on): a vendor chooses
    the URL, and it must not make Tally's worker call the services beside it (loopback,
    private networks, link-local cloud metadata). Checked before each attempt."""
    if getattr(settings, "LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False):
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise WebhookDeliveryError(f"the webhook host {host!r} does not resolve: {exc}") from exc
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise WebhookDeliveryError(
                f"the webhook host {host!r} resolves to a non-public address ({ip}); refused"
            )


def low_credit_webhook_call_out(
    attempt: CallOutAttempt, *, vendor_id: str, body: str
) -> dict[str, Any]:
    """POST the alert ``body`` once to the vendor's current webhook URL, signed with its
    current secret; raise ``WebhookDeliveryError`` unless it answers 2xx (or if the URL's
    host is not a public address: ``webhook_address_check``). No transaction is open.
    Redirects are not followed (a redirect could lead anywhere)."""
    vendor = VendorProfile.objects.get(user_id=UUID(vendor_id))
    url = vendor.alert_webhook_url
    if not url:
        return {"delivered": False}
    try:
        webhook_address_check(url)
    except WebhookDeliveryError:
        WEBHOOKS.labels(outcome="failed_attempt").inc()
        raise
    raw = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tally-Webhooks/1",
        SIGNATURE_HEADER: webhook_signature(
            secret=vendor.alert_webhook_secret, timestamp=int(time.time()), body=raw
        ),
        DELIVERY_HEADER: attempt.idempotency_key,
    }
    try:
        response = httpx.post(
            url,
            content=raw,
            headers=headers,
            timeout=webhook_timeout_seconds(),
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        WEBHOOKS.labels(outcome="failed_attempt").inc()
        raise WebhookDeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        WEBHOOKS.labels(outcome="failed_attempt").inc()
        raise WebhookDeliveryError(f"the vendor's endpoint answered HTTP {response.status_code}")
    return {"delivered": True, "status_code": response.status_code}


def low_credit_webhook_settle(
    attempt: CallOutAttempt, result: dict[str, Any], *, vendor_id: str, body: str
) -> None:
    """Delivered (or nothing to deliver): the job ends."""
    outcome = "delivered" if result.get("delivered") else "skipped"
    transaction.on_commit(lambda: WEBHOOKS.labels(outcome=outcome).inc())


def low_credit_webhook_give_up(
    attempt: CallOutAttempt, error: str, *, vendor_id: str, body: str
) -> None:
    """The last attempt failed: the job ends failed (its outbox message keeps the error)."""
    transaction.on_commit(lambda: WEBHOOKS.labels(outcome="gave_up").inc())
    logger.warning(
        "low-credit webhook gave up",
        extra={"vendor_id": vendor_id, "attempts": attempt.attempt, "error": error},
    )


low_credit_webhook = outbox_callout_task(
    WEBHOOK_TASK_NAME,
    call_out=low_credit_webhook_call_out,
    settle=low_credit_webhook_settle,
    give_up=low_credit_webhook_give_up,
    max_attempts=webhook_max_attempts(),
    claim_timeout_seconds=WEBHOOK_CLAIM_TIMEOUT_SECONDS,
    backoff_seconds=webhook_backoff_seconds,
)
