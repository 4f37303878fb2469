"""Payments: paying an order, settling the gateway's answer exactly once, and the ledger split.

Paying (``payment_start``, the request's one transaction): the order moves pending →
processing (409 ``invalid_state`` unless it is pending: a cancelled, paid or already paying
order is refused) and a ``Payment`` is written with its request event. Then by gateway:

- ``wallet``: captured at once, in the same transaction: the total moves from the
  customer's wallet (floored: 422 ``insufficient_funds`` and nothing written) and is split.
- card-like methods (``sandbox`` or ``sslcommerz``): a call-out job
  (``tally.payments.payment_initiate``) calls the gateway with no transaction open and
  settles its answer once (docs/architecture.md, "Calling an outside system").
- ``manual`` (cash, bank transfer): waits for an admin's confirmation.

Settling an answer (``payment_apply_answer``, under the payment's row lock, guarded by
conditional transitions so a second settle of the same payment is a no-op): captured with
the order's amount and currency → the payment is captured, the money split in the ledger
and the order confirmed, in one transaction; captured with another amount or currency →
rejected (``amount_mismatch``): the payment fails, the order fails and its stock is
released; declined → the payment fails and the order is pending again (the buyer may pay
again until its payment deadline).

The split (``order_split``): each vendor gets its lines' totals less the commission
(``PAYMENTS_COMMISSION_PERCENT`` of each line, rounded half up), the platform's commission
account the commissions and the shipping, the tax account the tax; the parts add up to the
order's total.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET
from tally.identity.models import User
from tally.identity.services import actor_require_admin
from tally.ledger import services as ledger
from tally.ledger.models import Account
from tally.orders.models import Order, OrderItem
from tally.orders.selectors import OrderAccess
from tally.orders.services import (
    order_payment_abandon,
    order_payment_fail,
    order_payment_start,
    order_payment_succeed,
)
from tally.payments.exceptions import (
    GatewayUnavailableError,
    PaymentInProgressError,
    WalletNeedsAccountError,
)
from tally.payments.gateways import GatewayAnswer, GatewayPayment, gateway_get
from tally.payments.gateways.sandbox import sandbox_card_check
from tally.payments.hooks import payment_captured_announce
from tally.payments.ledger_vocabulary import (
    ORDER_PAYMENT,
    ORDER_SETTLEMENT,
    PLATFORM_COMMISSION,
    TAX_COLLECTED,
    VENDOR_EARNINGS,
)
from tally.payments.lock_objects import payment_lock
from tally.payments.metrics import GATEWAY_SECONDS, payment_count_on_commit
from tally.payments.models import (
    IN_FLIGHT,
    Payment,
    PaymentEvent,
    PaymentEventKind,
    PaymentMethod,
    PaymentStatus,
)
from tally.platform.db import require_no_transaction, use_case, use_case_transaction
from tally.platform.exceptions import InvalidStateError, PermissionDeniedError
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue
from tally.platform.status import status_transition

logger = logging.getLogger(__name__)

INITIATE_TASK = "tally.payments.payment_initiate"
RECONCILE_BATCH_SIZE = 100
_SECRET_KEYS = frozenset({"card_number", "cvc", "cvv", "store_passwd", "password"})


@dataclass(frozen=True)
class PaymentRequest:
    """What the buyer asks for: a method and, for a sandbox card, a test card number."""

    method: str
    card_number: str | None = None


def payment_gateway_for(method: str) -> str:
    """The gateway that handles ``method``."""
    if method == PaymentMethod.WALLET:
        return "wallet"
    if method in (PaymentMethod.CASH, PaymentMethod.BANK_TRANSFER):
        return "manual"
    return str(settings.PAYMENTS_CARD_GATEWAY)


# --- the event log -----------------------------------------------------------------------


def _redacted(payload: Any) -> Any:
    if isinstance(payload, Mapping):
        return {
            str(key): "[redacted]" if str(key).lower() in _SECRET_KEYS else _redacted(value)
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [_redacted(value) for value in payload]
    return payload


def payment_event_record(*, payment: Payment, kind: str, payload: Mapping[str, Any]) -> None:
    """Append one event (secrets redacted; the digest is of what was stored)."""
    stored = _redacted(dict(payload))
    text = json.dumps(stored, sort_keys=True, cls=DjangoJSONEncoder)
    PaymentEvent.objects.create(
        payment=payment,
        kind=kind,
        payload=json.loads(text),
        digest=hashlib.sha256(text.encode()).hexdigest(),
    )


# --- paying --------------------------------------------------------------------------------


@use_case
def payment_start(*, access: OrderAccess, actor: User | None, request: PaymentRequest) -> Payment:
    """The buyer (customer, or guest with the order's token) pays a pending order.

    Guarantees: the order leaves ``pending`` and the payment is written with its request
    event in one transaction; a wallet payment is captured and split in that same
    transaction; a card payment's gateway call is enqueued (after commit). Refuses: 403 for
    anyone but the buyer; 409 ``invalid_state`` unless the order is pending; 422
    ``card_not_accepted`` (sandbox: not a test card), ``wallet_requires_account`` (a guest),
    ``insufficient_funds`` (wallet). Locks: the order row; the wallet and the vendors'
    earnings accounts (wallet payments). Enqueues: ``tally.payments.payment_initiate`` for
    card-like methods.
    """
    if access.relation not in ("customer", "guest"):
        raise PermissionDeniedError("Only the buyer pays an order.")
    gateway = payment_gateway_for(request.method)
    if gateway == "wallet" and access.relation != "customer":
        raise WalletNeedsAccountError()
    last4 = (
        sandbox_card_check(method=request.method, card_number=request.card_number)
        if gateway == "sandbox"
        else ""
    )
    order = access.order
    order_payment_start(order=order, actor=actor)
    payment = Payment.objects.create(
        order=order,
        method=request.method,
        gateway=gateway,
        amount=order.total,
        currency=order.currency,
        card_last4=last4,
        payer=actor,
    )
    payment_event_record(
        payment=payment,
        kind=PaymentEventKind.REQUEST,
        payload={"method": request.method, "gateway": gateway, "amount": order.total},
    )
    if gateway == "wallet":
        assert actor is not None  # nosec B101  # type narrowing, not a check
        wallet = ledger.account_get_or_create(
            owner=actor, kind=CUSTOMER_WALLET, currency=order.currency
        )
        ledger.transfer_create(
            debit_account=wallet,
            credit_account=_clearing(payment),
            amount_minor=payment.amount,
            code=ORDER_PAYMENT,
            reference=f"payment:{payment.pk}",
        )
        _capture(payment, reference=f"wallet_{payment.pk.hex}", actor=actor)
    elif gateway != "manual":
        outbox_enqueue(task_name=INITIATE_TASK, payload={"payment_id": str(payment.pk)})
    return payment


def _clearing(payment: Payment) -> Account:
    return ledger.account_system(
        kind=gateway_get(payment.gateway).clearing_kind, currency=payment.currency
    )


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Split:
    """Who gets what of an order's total (minor units)."""

    vendors: dict[Any, int]  # vendor user id → its share
    commission: int  # commission on the lines + shipping
    tax: int

    @property
    def total(self) -> int:
        return sum(self.vendors.values()) + self.commission + self.tax


def order_split(order: Order, items: list[OrderItem]) -> Split:
    """Split ``order``'s total between its vendors, the commission and the tax."""
    rate = Decimal(str(settings.PAYMENTS_COMMISSION_PERCENT)) / 100
    vendors: dict[Any, int] = defaultdict(int)
    commission = order.shipping
    for item in items:
        cut = _round_half_up(Decimal(item.line_total) * rate)
        vendors[item.vendor_id] += item.line_total - cut
        commission += cut
    split = Split(vendors=dict(vendors), commission=commission, tax=order.tax)
    if split.total != order.total:
        raise RuntimeError(
            f"order {order.pk}: the split adds up to {split.total}, not {order.total}"
        )
    return split


def _settlement_transfers(payment: Payment, order: Order) -> None:
    split = order_split(order, list(order.items.all()))
    clearing = _clearing(payment)
    reference = f"payment:{payment.pk}"
    owners = {user.pk: user for user in User.objects.filter(pk__in=list(split.vendors))}
    # Vendors' accounts in id order, so concurrent settlements lock them in one order.
    earnings = sorted(
        (
            (
                ledger.account_get_or_create(
                    owner=owners[vendor_id], kind=VENDOR_EARNINGS, currency=payment.currency
                ),
                amount,
            )
            for vendor_id, amount in split.vendors.items()
        ),
        key=lambda pair: pair[0].pk,
    )
    credits: list[tuple[Account, int]] = [
        *((account, amount) for account, amount in earnings),
        (
            ledger.account_system(kind=PLATFORM_COMMISSION, currency=payment.currency),
            split.commission,
        ),
        (ledger.account_system(kind=TAX_COLLECTED, currency=payment.currency), split.tax),
    ]
    for account, amount in credits:
        if amount > 0:
            ledger.transfer_create(
                debit_account=clearing,
                credit_account=account,
                amount_minor=amount,
                code=ORDER_SETTLEMENT,
                reference=reference,
            )


def _capture(payment: Payment, *, reference: str, actor: User | None) -> None:
    status_transition(
        instance=payment,
        to=PaymentStatus.CAPTURED,
        actor=actor,
        action="payment.captured",
        fields={
            "gateway_reference": reference,
            "captured_at": timezone.now(),
            "updated_at": timezone.now(),
        },
    )
    order = payment.order
    _settlement_transfers(payment, order)
    order_payment_succeed(order=order, actor=actor)
    payment_captured_announce(payment)
    payment_count_on_commit(
        method=payment.method, outcome="captured", created_at=payment.created_at
    )


def _fail(payment: Payment, *, reason: str, actor: User | None, release: bool) -> None:
    status_transition(
        instance=payment,
        to=PaymentStatus.FAILED,
        actor=actor,
        action="payment.failed",
        fields={"failure_reason": reason[:64], "updated_at": timezone.now()},
        changes={"reason": [None, reason]},
    )
    if release:
        order_payment_fail(order=payment.order, actor=actor, reason=reason)
    else:
        order_payment_abandon(order=payment.order, actor=actor)
    payment_count_on_commit(
        method=payment.method,
        outcome="rejected" if release else "declined",
        created_at=payment.created_at,
    )


def payment_apply_answer(*, payment: Payment, answer: GatewayAnswer, actor: User | None) -> None:
    """Settle a gateway's answer about an in-flight ``payment`` (locked by the caller, in
    its transaction). A payment no longer in flight is left alone (a second settle)."""
    if payment.status not in IN_FLIGHT:
        return
    payment_event_record(
        payment=payment, kind=PaymentEventKind.GATEWAY_ANSWER, payload=answer.as_json()
    )
    if answer.outcome == "captured":
        if answer.amount != payment.amount or answer.currency != payment.currency:
            _fail(payment, reason="amount_mismatch", actor=actor, release=True)
        else:
            _capture(payment, reference=answer.reference, actor=actor)
    elif answer.outcome == "declined":
        _fail(payment, reason=answer.reason or "declined", actor=actor, release=False)
    elif answer.outcome == "authorized":
        status_transition(
            instance=payment,
            to=PaymentStatus.AUTHORIZED,
            actor=actor,
            action="payment.authorized",
            fields={"gateway_reference": answer.reference, "updated_at": timezone.now()},
        )
    elif answer.outcome == "redirect":
        Payment.objects.filter(pk=payment.pk).update(
            gateway_reference=answer.reference,
            redirect_url=answer.redirect_url,
            updated_at=timezone.now(),
        )
        payment.gateway_reference, payment.redirect_url = answer.reference, answer.redirect_url


# --- the gateway call-out job ---------------------------------------------------------------


def gateway_payment_of(payment: Payment) -> GatewayPayment:
    order = payment.order
    return GatewayPayment(
        payment_id=str(payment.pk),
        order_id=str(order.pk),
        order_number=order.number,
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method,
        card_last4=payment.card_last4,
        buyer_email=order.email,
        buyer_name=order.name,
        buyer_phone=order.phone,
        buyer_address=dict(order.shipping_address),
    )


def payment_call_gateway(attempt: CallOutAttempt, *, payment_id: str) -> dict[str, Any]:
    """Call out (no transaction open): ask the gateway to start the payment, with the job's
    idempotency key. A transient failure raises (the job retries with backoff)."""
    require_no_transaction()
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status not in IN_FLIGHT:
        return {"final": True}
    gateway = gateway_get(payment.gateway)
    started = time.monotonic()
    try:
        answer = gateway.initiate(
            gateway_payment_of(payment),
            idempotency_key=attempt.idempotency_key,
            attempt=attempt.attempt,
        )
    except GatewayUnavailableError:
        GATEWAY_SECONDS.labels(payment.gateway, "initiate", "unavailable").observe(
            time.monotonic() - started
        )
        raise
    GATEWAY_SECONDS.labels(payment.gateway, "initiate", answer.outcome).observe(
        time.monotonic() - started
    )
    return answer.as_json()


def payment_settle(attempt: CallOutAttempt, result: dict[str, Any], *, payment_id: str) -> None:
    """Settle (the job's settle transaction, once per job): apply the gateway's answer."""
    if result.get("final"):
        return
    payment = payment_lock(payment_id=payment_id)
    payment_apply_answer(payment=payment, answer=GatewayAnswer.from_json(result), actor=None)


def payment_give_up(attempt: CallOutAttempt, error: str, *, payment_id: str) -> None:
    """After the last failed attempt: the payment stays ``initiated`` (the gateway may have
    taken it); the reconcile job asks the gateway what became of it."""
    payment = payment_lock(payment_id=payment_id)
    if payment.status in IN_FLIGHT:
        payment_event_record(
            payment=payment,
            kind=PaymentEventKind.GATEWAY_ANSWER,
            payload={"outcome": "unavailable", "error": error[:500], "attempts": attempt.attempt},
        )


def gateway_backoff_seconds(attempt: int) -> float:
    """Seconds before retrying a gateway call after failed attempt ``attempt``:
    ``PAYMENTS_GATEWAY_RETRY_BASE_SECONDS`` · 2^(attempt-1), capped."""
    base = float(settings.PAYMENTS_GATEWAY_RETRY_BASE_SECONDS)
    return min(float(settings.PAYMENTS_GATEWAY_RETRY_MAX_SECONDS), base * 2 ** max(0, attempt - 1))


def gateway_job_options(*, calls: int = 1) -> dict[str, Any]:
    """The retry options of a call-out job making ``calls`` gateway calls per attempt."""
    return {
        "max_attempts": int(settings.PAYMENTS_GATEWAY_MAX_ATTEMPTS),
        "claim_timeout_seconds": max(
            60.0, (calls + 1) * float(settings.PAYMENTS_GATEWAY_TIMEOUT_SECONDS)
        ),
        "backoff_seconds": gateway_backoff_seconds,
    }


payment_initiate = outbox_callout_task(
    INITIATE_TASK,
    call_out=payment_call_gateway,
    settle=payment_settle,
    give_up=payment_give_up,
    **gateway_job_options(),
)


# --- the reconcile job and manual confirmation ------------------------------------------------


def payment_reconcile(*, older_than_seconds: int | None = None) -> int:
    """Beat job: ask the gateway what became of payments in flight for longer than
    ``PAYMENTS_RECONCILE_AFTER_SECONDS`` (a timeout, a lost webhook, a worker that died
    before settling) and settle each answer once. Cash and bank transfers wait for an
    admin. Returns how many payments it settled."""
    require_no_transaction()
    age = (
        older_than_seconds
        if older_than_seconds is not None
        else int(settings.PAYMENTS_RECONCILE_AFTER_SECONDS)
    )
    due = list(
        Payment.objects.filter(
            status__in=IN_FLIGHT, updated_at__lte=timezone.now() - timedelta(seconds=age)
        )
        .exclude(gateway__in=("manual", "wallet"))
        .select_related("order")
        .order_by("updated_at")[:RECONCILE_BATCH_SIZE]
    )
    settled = 0
    for payment in due:
        gateway = gateway_get(payment.gateway)
        started = time.monotonic()
        try:
            answer = gateway.validate(
                gateway_payment_of(payment), reference=payment.gateway_reference
            )
        except GatewayUnavailableError:
            GATEWAY_SECONDS.labels(payment.gateway, "validate", "unavailable").observe(
                time.monotonic() - started
            )
            continue
        GATEWAY_SECONDS.labels(payment.gateway, "validate", answer.outcome).observe(
            time.monotonic() - started
        )
        with use_case_transaction():
            locked = payment_lock(payment_id=payment.pk)
            before = locked.status
            payment_apply_answer(payment=locked, answer=answer, actor=None)
            settled += int(locked.status != before)
    return settled


@use_case
def payment_confirm_manual(*, actor: User, payment: Payment, reference: str = "") -> Payment:
    """An admin confirms a cash or bank-transfer payment arrived: captured and split, the
    order confirmed (audited). Refuses non-admins (403); 409 ``invalid_state`` unless the
    payment is in flight and manual. Locks the payment, the order, the accounts."""
    actor_require_admin(actor=actor)
    locked = payment_lock(payment_id=payment.pk)
    if locked.gateway != "manual":
        raise InvalidStateError("Only cash and bank-transfer payments are confirmed by hand.")
    payment_event_record(
        payment=locked,
        kind=PaymentEventKind.ADMIN,
        payload={"action": "confirm", "reference": reference},
    )
    # The admin's reference (a till or bank reference, not unique) stays in the event log;
    # the payment's gateway reference is its own.
    _capture(locked, reference=f"manual_{locked.pk.hex}", actor=actor)
    return locked


@use_case
def payment_withdraw(*, actor: User | None, payment: Payment) -> Payment:
    """The buyer (or an admin) withdraws a cash or bank-transfer payment that has not been
    confirmed: the payment is cancelled and the order is pending again, so it can be paid
    another way or cancelled (its stock released). A card payment in progress cannot be
    withdrawn (the gateway may be taking the money): 409 ``payment_in_progress``; wait for
    its outcome. Refuses 409 ``invalid_state`` once the payment is settled. Audited. Locks
    the payment row, then the order's."""
    locked = payment_lock(payment_id=payment.pk)
    if locked.gateway != "manual":
        raise PaymentInProgressError(
            "A card payment in progress cannot be withdrawn; wait for its outcome."
        )
    status_transition(
        instance=locked,
        to=PaymentStatus.CANCELLED,
        actor=actor,
        action="payment.withdrawn",
        fields={"updated_at": timezone.now()},
    )
    payment_event_record(
        payment=locked, kind=PaymentEventKind.REQUEST, payload={"action": "withdraw"}
    )
    order_payment_abandon(order=locked.order, actor=actor)
    payment_count_on_commit(method=locked.method, outcome="withdrawn", created_at=locked.created_at)
    return locked
