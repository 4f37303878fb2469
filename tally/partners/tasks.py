"""The partner callback's call-out job: POST the signed result, log the attempt, retry.

Declared with ``outbox_callout_task`` (claim → commit → call out → settle), so the partner
is called with no transaction open and a slow partner holds no lock. Every attempt sends
the body fixed when the job was enqueued, the same ``X-Tally-Delivery`` id, and a fresh
timestamp and signature.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from django.db import transaction
from prometheus_client import Counter

from tally.offers.models import Activation
from tally.partners.callbacks import (
    CALLBACK_TASK_NAME,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    callback_attempt_record,
    callback_backoff_seconds,
    callback_max_attempts,
    callback_signature,
    callback_timeout_seconds,
)
from tally.partners.exceptions import CallbackDeliveryError
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task

logger = logging.getLogger(__name__)

# Counted once the step's transaction committed (a rolled-back settle counts nothing).
# delivered: a partner accepted a callback; failed_attempt: one attempt was not accepted
# (retried); gave_up: the last attempt failed too; skipped: the partner has no URL any more.
CALLBACKS = Counter(
    "tally_partner_callbacks_total", "Partner callback deliveries by outcome", ["outcome"]
)
# A claim older than this is presumed dead: well above the longest call.
CLAIM_TIMEOUT_SECONDS = 60.0


def activation_callback_call_out(
    attempt: CallOutAttempt, *, activation_id: str, body: str
) -> dict[str, Any]:
    """POST the callback ``body`` once, signed with the partner's current secret; log the
    attempt; raise CallbackDeliveryError unless the partner answered 2xx (the job then
    retries with backoff). No transaction is open."""
    activation = Activation.objects.select_related("partner").get(pk=activation_id)
    partner = activation.partner
    url = partner.callback_url if partner is not None else ""
    if partner is None or not url:
        return {"delivered": False}
    raw = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tally-Callbacks/1",
        SIGNATURE_HEADER: callback_signature(
            secret=partner.signing_secret, timestamp=int(time.time()), body=raw
        ),
        DELIVERY_HEADER: attempt.idempotency_key,
    }
    status_code: int | None = None
    error = ""
    started = time.monotonic()
    try:
        response = httpx.post(
            url,
            content=raw,
            headers=headers,
            timeout=callback_timeout_seconds(),
            follow_redirects=False,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"the partner answered HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    callback_attempt_record(
        activation=activation,
        attempt=attempt.attempt,
        url=url,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
    )
    if error:
        CALLBACKS.labels(outcome="failed_attempt").inc()
        raise CallbackDeliveryError(error)
    return {"delivered": True, "status_code": status_code}


def activation_callback_settle(
    attempt: CallOutAttempt, result: dict[str, Any], *, activation_id: str, body: str
) -> None:
    """The callback is done (delivered, or nothing to deliver): the job ends; the attempt
    log already holds what happened."""
    outcome = "delivered" if result.get("delivered") else "skipped"
    transaction.on_commit(lambda: CALLBACKS.labels(outcome=outcome).inc())


def activation_callback_give_up(
    attempt: CallOutAttempt, error: str, *, activation_id: str, body: str
) -> None:
    """The last attempt failed: the job ends failed (its outbox message keeps the error)."""
    transaction.on_commit(lambda: CALLBACKS.labels(outcome="gave_up").inc())
    logger.warning(
        "partner callback gave up",
        extra={"activation_id": activation_id, "attempts": attempt.attempt, "error": error},
    )


activation_callback = outbox_callout_task(
    CALLBACK_TASK_NAME,
    call_out=activation_callback_call_out,
    settle=activation_callback_settle,
    give_up=activation_callback_give_up,
    max_attempts=callback_max_attempts(),
    claim_timeout_seconds=CLAIM_TIMEOUT_SECONDS,
    backoff_seconds=callback_backoff_seconds,
)
