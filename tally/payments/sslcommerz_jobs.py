"""SSLCommerz notifications: recording one (the IPN's request) and the call-out job that
validates it with the gateway and settles the payment once.

A notification is never trusted for money: the IPN view verifies its signature, then
``sslcommerz_notice_record`` writes it to the payment's event log with a validation job
(one transaction, under the payment's row lock). The job (``tally.payments.
sslcommerz_validate``) asks the validation API with no transaction open and settles the
answer with ``payment_apply_answer`` under the payment's lock: captured with the payment's
amount and currency → captured and split, the order confirmed; another amount → rejected
(``amount_mismatch``), the order failed and its stock released; refused → declined.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from prometheus_client import Counter

from tally.payments.exceptions import GatewayUnavailableError
from tally.payments.gateways import GatewayAnswer, WebhookNotice
from tally.payments.gateways.sslcommerz import PAID_STATUSES, SslcommerzGateway
from tally.payments.lock_objects import payment_lock
from tally.payments.metrics import GATEWAY_SECONDS
from tally.payments.models import IN_FLIGHT, Payment, PaymentEventKind, PaymentStatus
from tally.payments.services import (
    gateway_job_options,
    gateway_payment_of,
    payment_apply_answer,
    payment_event_record,
)
from tally.platform.db import require_no_transaction, use_case
from tally.platform.exceptions import NotFoundError
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)

VALIDATE_TASK = "tally.payments.sslcommerz_validate"
GATEWAY = "sslcommerz"

NoticeOutcome = Literal["queued", "duplicate", "ignored", "late_payment"]

# Verified notifications by source (ipn, success, fail, cancel) and outcome: queued for
# validation, a duplicate of one already queued, ignored (the payment is settled), or
# late_payment (a paid notice for a payment that had already failed: refund by hand).
WEBHOOKS = Counter(
    "tally_payment_webhooks_total",
    "Verified SSLCommerz notifications by source and outcome.",
    ["source", "outcome"],
)


@use_case
def sslcommerz_notice_record(*, notice: WebhookNotice, source: str) -> NoticeOutcome:
    """Record a verified notification of an SSLCommerz payment and enqueue its validation.

    Guarantees: for a payment in flight, the notification (its event) and the validation
    job commit together, once per distinct notice (``val_id`` + status): a replayed or
    concurrent duplicate is a no-op. A payment no longer in flight is left alone. Refuses:
    404 for an unknown payment or one of another gateway. Locks: the payment row.
    Enqueues: ``tally.payments.sslcommerz_validate``.
    """
    if not notice.payment_id:
        raise NotFoundError("No such payment.")
    try:
        payment = payment_lock(payment_id=notice.payment_id)
    except Payment.DoesNotExist:
        raise NotFoundError("No such payment.") from None
    if payment.gateway != GATEWAY:
        raise NotFoundError("No such payment.")
    fields = notice.raw
    if payment.status not in IN_FLIGHT:
        if payment.status == PaymentStatus.FAILED and notice.status in PAID_STATUSES:
            # The gateway took money for a payment Tally had already failed.
            if not _seen(payment, fields):
                payment_event_record(
                    payment=payment,
                    kind=PaymentEventKind.WEBHOOK,
                    payload={**fields, "source": source, "note": "paid_after_failure"},
                )
                logger.error(
                    "sslcommerz: paid notification for a failed payment (refund it by hand)",
                    extra={"payment_id": str(payment.pk), "val_id": notice.reference},
                )
            return "late_payment"
        return "ignored"
    if _seen(payment, fields):
        return "duplicate"
    payment_event_record(
        payment=payment, kind=PaymentEventKind.WEBHOOK, payload={**fields, "source": source}
    )
    outbox_enqueue(
        task_name=VALIDATE_TASK,
        payload={"payment_id": str(payment.pk), "val_id": notice.reference},
    )
    return "queued"


def _seen(payment: Payment, fields: dict[str, Any]) -> bool:
    """Whether this notice (same transaction, val_id and status) is in the payment's log."""
    lookup: dict[str, Any] = {
        "payload__tran_id": fields.get("tran_id", ""),
        "payload__status": fields.get("status", ""),
    }
    if "val_id" in fields:
        lookup["payload__val_id"] = fields["val_id"]
    else:
        lookup["payload__val_id__isnull"] = True
    return payment.events.filter(kind=PaymentEventKind.WEBHOOK, **lookup).exists()


# --- the validation job ---------------------------------------------------------------------


def sslcommerz_call_validation(
    attempt: CallOutAttempt, *, payment_id: str, val_id: str
) -> dict[str, Any]:
    """Call out (no transaction open): what does the gateway say of this notification?
    A transient failure raises (the job retries with backoff)."""
    require_no_transaction()
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status not in IN_FLIGHT:
        return {"final": True}
    started = time.monotonic()
    try:
        answer = SslcommerzGateway().validate_notice(gateway_payment_of(payment), val_id=val_id)
    except GatewayUnavailableError:
        GATEWAY_SECONDS.labels(GATEWAY, "validate", "unavailable").observe(
            time.monotonic() - started
        )
        raise
    GATEWAY_SECONDS.labels(GATEWAY, "validate", answer.outcome).observe(time.monotonic() - started)
    return answer.as_json()


def sslcommerz_settle_validation(
    attempt: CallOutAttempt, result: dict[str, Any], *, payment_id: str, val_id: str
) -> None:
    """Settle (the job's settle transaction, once per job): apply the gateway's answer to
    the payment under its row lock (a payment already settled is left alone)."""
    if result.get("final"):
        return
    payment = payment_lock(payment_id=payment_id)
    payment_apply_answer(payment=payment, answer=GatewayAnswer.from_json(result), actor=None)


def sslcommerz_give_up_validation(
    attempt: CallOutAttempt, error: str, *, payment_id: str, val_id: str
) -> None:
    """After the last failed attempt: the payment stays in flight; the reconcile job asks
    the gateway (by transaction id) later."""
    payment = payment_lock(payment_id=payment_id)
    if payment.status in IN_FLIGHT:
        payment_event_record(
            payment=payment,
            kind=PaymentEventKind.VALIDATION,
            payload={"outcome": "unavailable", "error": error[:500], "attempts": attempt.attempt},
        )


sslcommerz_validate = outbox_callout_task(
    VALIDATE_TASK,
    call_out=sslcommerz_call_validation,
    settle=sslcommerz_settle_validation,
    give_up=sslcommerz_give_up_validation,
    **gateway_job_options(calls=2),
)
