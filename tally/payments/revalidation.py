"""Reconciling one payment now, from the admin console: the question the beat job
``payment_reconcile`` asks the gateway about every payment left in flight, asked for one
payment on an admin's request, through a call-out job (never from the request itself).
"""

from __future__ import annotations

import time
from typing import Any

from tally.identity.models import User
from tally.identity.services import actor_require_admin
from tally.payments.exceptions import GatewayUnavailableError
from tally.payments.gateways import gateway_get
from tally.payments.lock_objects import payment_lock
from tally.payments.metrics import GATEWAY_SECONDS
from tally.payments.models import IN_FLIGHT, Payment, PaymentEventKind
from tally.payments.services import (
    gateway_job_options,
    gateway_payment_of,
    payment_event_record,
    payment_give_up,
    payment_settle,
)
from tally.platform.audit.services import audit_record
from tally.platform.db import require_no_transaction, use_case
from tally.platform.exceptions import InvalidStateError
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue

REVALIDATE_TASK = "tally.payments.payment_revalidate"


@use_case
def payment_revalidate_request(*, actor: User, payment: Payment) -> Payment:
    """An admin asks the gateway again, now, what became of one payment left in flight (the
    question ``payment_reconcile`` asks on beat, for this payment): for a lost IPN, a
    timeout, a gateway call that gave up.

    Writes the payment's event (``admin``, ``revalidate``), the audit row
    ``payment.revalidation_requested`` and the call-out job ``tally.payments.
    payment_revalidate`` in one transaction; the job calls the gateway's validation (or
    transaction-query) API with no transaction open and settles its answer with
    ``payment_apply_answer`` under the payment's lock, once (a payment settled meanwhile
    is left alone). Refuses, writing nothing: 403 for anyone but an admin; 409
    ``invalid_state`` for a settled payment and for cash, bank-transfer and wallet
    payments (no gateway to ask). Locks the payment row.
    """
    actor_require_admin(actor=actor)
    locked = payment_lock(payment_id=payment.pk)
    if locked.status not in IN_FLIGHT:
        raise InvalidStateError(
            f"This payment is {locked.status}: it is settled, there is nothing to reconcile.",
            current_status=locked.status,
        )
    if locked.gateway in ("manual", "wallet"):
        raise InvalidStateError(
            "No gateway to ask: a cash or bank-transfer payment is confirmed by hand, a wallet "
            "payment settles at once."
        )
    payment_event_record(
        payment=locked, kind=PaymentEventKind.ADMIN, payload={"action": "revalidate"}
    )
    audit_record(
        actor=actor,
        action="payment.revalidation_requested",
        target=locked,
        changes={"status": [locked.status, locked.status]},
    )
    outbox_enqueue(task_name=REVALIDATE_TASK, payload={"payment_id": str(locked.pk)})
    return locked


def payment_call_validation(attempt: CallOutAttempt, *, payment_id: str) -> dict[str, Any]:
    """Call out (no transaction open): ask the gateway what became of the payment. A
    transient failure raises (the job retries with backoff)."""
    require_no_transaction()
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status not in IN_FLIGHT:
        return {"final": True}
    gateway = gateway_get(payment.gateway)
    started = time.monotonic()
    try:
        answer = gateway.validate(gateway_payment_of(payment), reference=payment.gateway_reference)
    except GatewayUnavailableError:
        GATEWAY_SECONDS.labels(payment.gateway, "validate", "unavailable").observe(
            time.monotonic() - started
        )
        raise
    GATEWAY_SECONDS.labels(payment.gateway, "validate", answer.outcome).observe(
        time.monotonic() - started
    )
    return answer.as_json()


payment_revalidate = outbox_callout_task(
    REVALIDATE_TASK,
    call_out=payment_call_validation,
    settle=payment_settle,
    give_up=payment_give_up,
    **gateway_job_options(),
)
