"""Signed callbacks to partners when an activation they started finishes.

The settle step of an activation calls :func:`activation_callback_enqueue` in its
transaction; the outbox then runs the call-out job ``tally.partners.activation_callback``
(``tally/partners/tasks.py``), which POSTs the callback with no transaction open, logs every
attempt as a :class:`~tally.partners.models.CallbackAttempt`, and retries with exponential
backoff until the partner answers 2xx or the attempts are used up.

The body is ``{"event": "activation.finished", "activation": {...}}`` (the activation as
the partner endpoints show it). The ``X-Tally-Signature`` header is
``t=<unix seconds>,v1=<hex HMAC-SHA256(signing_secret, f"{t}.{raw body}")>``; see
docs/partners.md for how a partner verifies it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings

from tally.offers.models import Activation, ActivationSource
from tally.partners.models import CallbackAttempt
from tally.partners.serializers import PartnerActivationSerializer
from tally.platform.db import require_transaction, use_case_transaction
from tally.platform.outbox.services import outbox_enqueue

CALLBACK_TASK_NAME = "tally.partners.activation_callback"
CALLBACK_EVENT = "activation.finished"
SIGNATURE_HEADER = "X-Tally-Signature"
# The same for every attempt of one callback: a partner may ignore a repeat it has seen.
DELIVERY_HEADER = "X-Tally-Delivery"

# Tunables (overridable in settings); the defaults retry for about 20 minutes in all.
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_BACKOFF_SECONDS = 10.0
DEFAULT_BACKOFF_MAX_SECONDS = 3600.0


def callback_max_attempts() -> int:
    return int(getattr(settings, "PARTNERS_CALLBACK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def callback_timeout_seconds() -> float:
    return float(getattr(settings, "PARTNERS_CALLBACK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


def callback_backoff_seconds(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1, 2, …): the base, then doubling,
    capped (10, 20, 40, … seconds by default)."""
    base = float(getattr(settings, "PARTNERS_CALLBACK_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS))
    cap = float(
        getattr(settings, "PARTNERS_CALLBACK_BACKOFF_MAX_SECONDS", DEFAULT_BACKOFF_MAX_SECONDS)
    )
    return min(cap, base * 2 ** min(attempt - 1, 30))


def callback_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Tally-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def callback_body(*, activation: Activation) -> bytes:
    """The callback's raw JSON body for ``activation`` (as it is now)."""
    document: dict[str, Any] = {
        "event": CALLBACK_EVENT,
        "activation": PartnerActivationSerializer(activation).data,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def activation_callback_enqueue(*, activation: Activation) -> None:
    """Enqueue the signed callback of a finished ``activation`` to the partner that started
    it; a no-op for an activation no partner started, or whose partner has no callback URL.

    Runs in the caller's transaction (the activation's settle step): the job is published
    only if that transaction commits, so a callback never announces an outcome that was
    rolled back. The body is read now (the activation as this transaction leaves it) and
    stored with the job. Locks nothing. Enqueues ``tally.partners.activation_callback``.
    """
    require_transaction()
    if activation.source != ActivationSource.PARTNER or activation.partner_id is None:
        return
    partner = activation.partner
    if partner is None or not partner.callback_url:
        return
    # The body is fixed now, read in this transaction, so it states the outcome exactly as
    # it commits, and every attempt sends the same bytes whatever changes later.
    finished = Activation.objects.select_related("offer", "subscription").get(pk=activation.pk)
    outbox_enqueue(
        task_name=CALLBACK_TASK_NAME,
        payload={
            "activation_id": str(activation.id),
            "body": callback_body(activation=finished).decode(),
        },
    )


def callback_attempt_record(
    *,
    activation: Activation,
    attempt: int,
    url: str,
    status_code: int | None,
    error: str,
    duration_ms: int,
) -> CallbackAttempt:
    """Log one delivery attempt, in a transaction of its own (the call-out step has none
    open). Locks nothing; enqueues nothing."""
    with use_case_transaction():
        return CallbackAttempt.objects.create(
            activation=activation,
            attempt=attempt,
            url=url[:500],
            status_code=status_code,
            error=error[:1000],
            duration_ms=duration_ms,
        )
