"""Refunds: giving back all or part of a captured payment, to its method or to a wallet.

Who refunds (``refund_create``): an admin, any amount of any paid order; the (active)
vendor of some lines, only those lines (named in ``lines``). Buyers ask the vendor or the
platform; they read their refunds. A paid order is *cancelled* by a full refund (an unpaid
one by ``POST orders/{id}/cancel/``, which releases its stock).

What a refund gives back (minor units, never more than captured):

- *full* (no ``amount``, no ``lines``): what is left of the payment;
- *an amount* of the whole order: spread over the order's lines and its order-level part
  (shipping and tax), in proportion to what is left of each (largest remainder);
- *lines*: up to what is left of each named line's price (``line_total``); shipping and tax
  are given back only by whole-order refunds.

Every refund records its share of each line (``RefundLine``); a line's non-failed refunds
never exceed its ``line_total`` and a payment's never exceed its amount. Both are checked
under the payment's row lock, and the payment's ``refunded_amount`` is raised by a
conditional ``UPDATE … WHERE refunded_amount + amount <= amount`` (with the table's CHECK
behind it), so concurrent refunds can never give back more than was captured together.

The ledger: the capture split the payment out of its gateway's clearing account into each
vendor's earnings (its lines less the commission), the platform's commission account
(commissions and shipping) and the tax account. A refund moves that split back into the
clearing account, code ``order_refund``, reference ``payment:<id>``, in proportion:

- of what has been refunded of vendor V's lines so far (``A_V`` of its lines' total
  ``L_V``), V gives back ``round_half_up(s_V · A_V / L_V)`` where ``s_V`` is what V was
  paid for this payment; the commission account gives back the rest of ``A_V``;
- of the order-level part refunded so far (``X`` of shipping + tax ``O``), the tax account
  gives back ``round_half_up(T · X / O)`` (``T``: the tax settled), the commission account
  the rest (the shipping).

These are *cumulative targets*: each refund moves, per account, the target after it less
what earlier refunds already moved (read back from the ledger). So the parts of one refund
add up exactly to its amount, and once everything is refunded every account has given back
exactly what the capture gave it. What each account was paid is read from the settlement
transfers, so a later change of the commission rate changes nothing.

Then by destination:

- ``wallet`` (customers' orders only), and ``original`` for a wallet payment: at once, in
  the request's transaction: the clearing account pays the refund into the customer's
  wallet and the split is reversed (immediate transfers); the refund succeeds (201).
- ``original`` for a card or a cash/bank payment: the gateway is an outside system, so the
  request reserves (``refunded_amount`` raised, the split's reversal written as *pending*
  transfers: a vendor's earnings are held now) and enqueues the call-out job
  ``tally.payments.refund_send`` (202). The job asks the gateway to refund with no
  transaction open, then settles once: on the gateway's refund the pending transfers are
  posted and the refund succeeds; on a refusal (or after its last attempt) they are
  voided, ``refunded_amount`` is given back and the refund fails.

A vendor whose earnings were paid out cannot give them back: 422 ``insufficient_funds`` and
nothing is written (the ledger floors earnings at zero).

Statuses, when a refund succeeds: the payment (and its order) becomes ``refunded`` once its
succeeded refunds reach its amount, else ``partially_refunded`` (once; later partial refunds
leave it so). A refund never returns stock: the units were sold.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Sum, prefetch_related_objects
from django.utils import timezone

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET
from tally.identity.models import User
from tally.identity.services import vendor_require_active
from tally.ledger import services as ledger
from tally.ledger.models import Account, Transfer, TransferKind
from tally.orders.metrics import order_status_count_on_commit
from tally.orders.models import Order, OrderItem, OrderStatus
from tally.orders.selectors import OrderAccess, order_get_for_actor
from tally.payments.exceptions import (
    GatewayUnavailableError,
    RefundExceedsCapturedError,
    RefundExceedsLineError,
    RefundInProgressError,
    RefundUnknownLineError,
    RefundWalletNeedsCustomerError,
)
from tally.payments.gateways import GatewayAnswer, gateway_get
from tally.payments.ledger_vocabulary import (
    ORDER_REFUND,
    ORDER_SETTLEMENT,
    PLATFORM_COMMISSION,
    TAX_COLLECTED,
    VENDOR_EARNINGS,
)
from tally.payments.lock_objects import payment_lock
from tally.payments.metrics import GATEWAY_SECONDS, REFUNDED_MINOR, REFUNDS
from tally.payments.models import (
    Payment,
    PaymentEventKind,
    PaymentStatus,
    Refund,
    RefundDestination,
    RefundLine,
    RefundStatus,
)
from tally.payments.services import (
    gateway_job_options,
    gateway_payment_of,
    payment_event_record,
)
from tally.platform.audit.services import audit_record
from tally.platform.db import require_no_transaction, use_case
from tally.platform.exceptions import (
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
)
from tally.platform.money import from_minor
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue
from tally.platform.status import status_transition

logger = logging.getLogger(__name__)

REFUND_TASK = "tally.payments.refund_send"
# The gateways whose refunds need no outside call: they are ledger transfers.
LEDGER_GATEWAYS = frozenset({"wallet"})
# Order states a refund may start from (the order was paid).
REFUNDABLE_ORDER_STATES = (
    OrderStatus.CONFIRMED,
    OrderStatus.COMPLETED,
    OrderStatus.PARTIALLY_REFUNDED,
)
REFUNDABLE_PAYMENT_STATES = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED)


def _count_on_commit(refund: Refund, *, currency: str) -> None:
    destination, outcome, amount = str(refund.destination), str(refund.status), refund.amount

    def count() -> None:
        REFUNDS.labels(destination=destination, outcome=outcome).inc()
        if outcome == RefundStatus.SUCCEEDED:
            REFUNDED_MINOR.labels(currency=currency, destination=destination).inc(amount)

    transaction.on_commit(count, robust=True)


# --- what is asked -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundLineRequest:
    """One line to give back: ``amount`` minor units of its price (None: what is left)."""

    item_id: UUID
    amount: int | None = None


@dataclass(frozen=True)
class RefundRequest:
    """A refund: ``lines``, or an ``amount`` of the whole order, or (neither) all that is
    left. ``destination``: ``original`` (the payment's method) or ``wallet``."""

    amount: int | None = None
    lines: Sequence[RefundLineRequest] = ()
    destination: str = RefundDestination.ORIGINAL
    reason: str = ""

    def __post_init__(self) -> None:
        if self.amount is not None and self.lines:
            raise ValueError("a refund names lines or an amount, not both")
        amounts = [self.amount, *(line.amount for line in self.lines)]
        if any(amount is not None and amount <= 0 for amount in amounts):
            raise ValueError("refund amounts are positive minor units")


# --- the state of a payment's refunds ------------------------------------------------------------


@dataclass
class _Refunded:
    """What the payment's non-failed refunds (pending or succeeded) give back, so far."""

    lines: dict[UUID, int]  # item id → minor units of its price
    order_level: int  # of shipping + tax
    total: int
    succeeded: int


def _refunded_of(payment: Payment) -> _Refunded:
    live = Refund.objects.filter(payment=payment).exclude(status=RefundStatus.FAILED)
    sums = live.aggregate(
        total=Sum("amount"), succeeded=Sum("amount", filter=Q(status=RefundStatus.SUCCEEDED))
    )
    lines = {
        row["item_id"]: int(row["refunded"])
        for row in RefundLine.objects.filter(refund__in=live)
        .values("item_id")
        .annotate(refunded=Sum("amount"))
    }
    total = int(sums["total"] or 0)
    if total != payment.refunded_amount:
        raise RuntimeError(
            f"payment {payment.pk}: refunds add up to {total}, "
            f"refunded_amount says {payment.refunded_amount}"
        )
    return _Refunded(
        lines=lines,
        order_level=total - sum(lines.values()),
        total=total,
        succeeded=int(sums["succeeded"] or 0),
    )


@dataclass(frozen=True)
class _Allocation:
    """One refund's share of each line and of the order-level part (minor units)."""

    lines: dict[UUID, int]
    order_level: int = 0

    @property
    def total(self) -> int:
        return sum(self.lines.values()) + self.order_level


def _largest_remainder(amount: int, capacities: Sequence[int]) -> list[int]:
    """Split ``amount`` over buckets in proportion to ``capacities`` (sum ≥ ``amount``):
    whole units, each within its capacity, adding up exactly; leftover units go to the
    largest fractions, ties to the earlier bucket."""
    whole = sum(capacities)
    if not 0 < amount <= whole:
        raise RuntimeError(f"cannot split {amount} over capacities totalling {whole}")
    shares = [amount * capacity // whole for capacity in capacities]
    order = sorted(
        range(len(capacities)), key=lambda index: (-(amount * capacities[index] % whole), index)
    )
    for index in order[: amount - sum(shares)]:
        shares[index] += 1
    return shares


def _allocate(
    *, request: RefundRequest, payment: Payment, items: Sequence[OrderItem], refunded: _Refunded
) -> _Allocation:
    left = {item.pk: item.line_total - refunded.lines.get(item.pk, 0) for item in items}
    order_level_size = payment.amount - sum(item.line_total for item in items)
    order_level_left = order_level_size - refunded.order_level
    remaining = payment.amount - payment.refunded_amount
    if request.lines:
        shares: dict[UUID, int] = {}
        for line in request.lines:
            if line.item_id not in left:
                raise RefundUnknownLineError(item_id=str(line.item_id))
            amount = left[line.item_id] if line.amount is None else line.amount
            if amount <= 0 or amount > left[line.item_id]:
                raise RefundExceedsLineError(
                    "This line has "
                    f"{from_minor(left[line.item_id])} left to refund; asked for "
                    f"{from_minor(max(amount, 0))}.",
                    item_id=str(line.item_id),
                    refundable=from_minor(left[line.item_id]),
                )
            shares[line.item_id] = amount
        allocation = _Allocation(lines=shares)
        if allocation.total > remaining:
            raise RefundExceedsCapturedError(refundable=from_minor(remaining))
        return allocation
    if request.amount is None:
        if remaining == 0:
            if payment.status == PaymentStatus.REFUNDED:
                raise InvalidStateError("This payment was refunded in full.")
            raise RefundInProgressError()
        amount = remaining
    else:
        amount = request.amount
        if amount > remaining:
            raise RefundExceedsCapturedError(
                f"{from_minor(remaining)} is left to refund of this payment; asked for "
                f"{from_minor(amount)}.",
                refundable=from_minor(remaining),
            )
    ids = [item.pk for item in items]
    capacities = [left[item_id] for item_id in ids] + [order_level_left]
    split = _largest_remainder(amount, capacities)
    return _Allocation(
        lines={item_id: share for item_id, share in zip(ids, split, strict=False) if share},
        order_level=split[-1],
    )


# --- the ledger: reversing the split in proportion -----------------------------------------------


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def _reference(payment: Payment) -> str:
    return f"payment:{payment.pk}"


def _clearing(payment: Payment) -> Account:
    return ledger.account_system(
        kind=gateway_get(payment.gateway).clearing_kind, currency=payment.currency
    )


@dataclass
class _Settlement:
    """What the capture paid each account (minor units)."""

    vendors: dict[Any, tuple[Account, int]] = field(default_factory=dict)  # vendor id →
    commission: int = 0
    tax: int = 0


def _settlement_of(payment: Payment) -> _Settlement:
    settled = _Settlement()
    transfers = Transfer.objects.filter(
        reference=_reference(payment), code=ORDER_SETTLEMENT
    ).select_related("credit_account")
    for transfer in transfers:
        account = transfer.credit_account
        if account.kind == VENDOR_EARNINGS:
            _, before = settled.vendors.get(account.owner_id, (account, 0))
            settled.vendors[account.owner_id] = (account, before + transfer.amount)
        elif account.kind == PLATFORM_COMMISSION:
            settled.commission += transfer.amount
        elif account.kind == TAX_COLLECTED:
            settled.tax += transfer.amount
    return settled


def _targets(
    *,
    payment: Payment,
    items: Sequence[OrderItem],
    lines: Mapping[UUID, int],
    order_level: int,
    settled: _Settlement,
    commission: Account,
    tax: Account,
) -> dict[Account, int]:
    """What each account has given back for this payment once ``lines`` and
    ``order_level`` (cumulative) are refunded (see the module docstring)."""
    line_totals: dict[Any, int] = defaultdict(int)
    refunded: dict[Any, int] = defaultdict(int)
    for item in items:
        line_totals[item.vendor_id] += item.line_total
        refunded[item.vendor_id] += lines.get(item.pk, 0)
    targets: dict[Account, int] = defaultdict(int)
    for vendor_id, total in line_totals.items():
        account, paid = settled.vendors.get(vendor_id, (None, 0))
        vendor_part = _round_half_up(paid * refunded[vendor_id], total)
        if vendor_part:
            assert account is not None  # nosec B101  # type narrowing, not a check
            targets[account] += vendor_part
        targets[commission] += refunded[vendor_id] - vendor_part
    order_level_size = payment.amount - sum(line_totals.values())
    tax_part = _round_half_up(settled.tax * order_level, order_level_size) if order_level else 0
    targets[tax] += tax_part
    targets[commission] += order_level - tax_part
    return dict(targets)


def _moved_back(payment: Payment, accounts: Iterable[Account]) -> dict[Account, int]:
    """What each account already gave back for this payment: immediate refund transfers and
    pending ones not voided (posted or still open), debits less credits."""
    by_id = {account.pk: account for account in accounts}
    moved: dict[Account, int] = defaultdict(int)
    transfers = (
        Transfer.objects.filter(
            reference=_reference(payment),
            code=ORDER_REFUND,
            kind__in=(TransferKind.IMMEDIATE, TransferKind.PENDING),
        )
        .exclude(
            kind=TransferKind.PENDING,
            resolution__kind__in=(TransferKind.VOID_PENDING, TransferKind.EXPIRE_PENDING),
        )
        .values_list("debit_account_id", "credit_account_id", "amount")
    )
    for debit_id, credit_id, amount in transfers:
        if debit_id in by_id:
            moved[by_id[debit_id]] += amount
        if credit_id in by_id:
            moved[by_id[credit_id]] -= amount
    return dict(moved)


def _reversal_parts(
    *,
    payment: Payment,
    items: Sequence[OrderItem],
    refunded: _Refunded,
    allocation: _Allocation,
) -> dict[Account, int]:
    """This refund's part per account (positive: the account gives back; negative, only to
    even out an earlier rounding after a failed refund: it gets back). They add up to the
    refund's amount."""
    settled = _settlement_of(payment)
    commission = ledger.account_system(kind=PLATFORM_COMMISSION, currency=payment.currency)
    tax = ledger.account_system(kind=TAX_COLLECTED, currency=payment.currency)
    lines = dict(refunded.lines)
    for item_id, amount in allocation.lines.items():
        lines[item_id] = lines.get(item_id, 0) + amount
    targets = _targets(
        payment=payment,
        items=items,
        lines=lines,
        order_level=refunded.order_level + allocation.order_level,
        settled=settled,
        commission=commission,
        tax=tax,
    )
    accounts = {account for account, _ in settled.vendors.values()} | {commission, tax}
    moved = _moved_back(payment, accounts)
    if sum(moved.values()) != refunded.total:
        raise RuntimeError(
            f"payment {payment.pk}: the ledger gave back {sum(moved.values())}, "
            f"its refunds {refunded.total}"
        )
    parts = {
        account: targets.get(account, 0) - moved.get(account, 0)
        for account in accounts | set(targets)
    }
    parts = {account: amount for account, amount in parts.items() if amount}
    if sum(parts.values()) != allocation.total:
        raise RuntimeError(
            f"payment {payment.pk}: refund parts add up to {sum(parts.values())}, "
            f"the refund to {allocation.total}"
        )
    return parts


def _write_parts(
    *, payment: Payment, refund: Refund, parts: Mapping[Account, int], pending: bool
) -> None:
    """Each part as a transfer with the clearing account, owned accounts in id order (the
    lock order of every settlement)."""
    clearing = _clearing(payment)
    for account, amount in sorted(parts.items(), key=lambda pair: pair[0].pk):
        debit, credit = (account, clearing) if amount > 0 else (clearing, account)
        write = ledger.transfer_create_pending if pending else ledger.transfer_create
        write(
            debit_account=debit,
            credit_account=credit,
            amount_minor=abs(amount),
            code=ORDER_REFUND,
            reference=_reference(payment),
            metadata={"refund": str(refund.pk)},
        )


def _pending_parts(refund: Refund) -> list[Transfer]:
    """The refund's open pending transfers, owned accounts in id order."""
    transfers = Transfer.objects.filter(
        reference=f"payment:{refund.payment_id}",
        code=ORDER_REFUND,
        kind=TransferKind.PENDING,
        metadata__refund=str(refund.pk),
        resolution__isnull=True,
    ).select_related("debit_account", "credit_account")

    def owned_id(transfer: Transfer) -> int:
        side = (
            transfer.credit_account if transfer.debit_account.is_system else transfer.debit_account
        )
        return side.pk

    return sorted(transfers, key=owned_id)


# --- statuses ----------------------------------------------------------------------------------


def _statuses_apply(*, payment: Payment, order: Order, succeeded: int, actor: User | None) -> None:
    """Payment and order: refunded once ``succeeded`` reaches the payment, else partially
    refunded (a repeat is a no-op). Locks the payment row (held) and the order row."""
    now = timezone.now()
    full = succeeded == payment.amount
    payment_to = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    order_to = OrderStatus.REFUNDED if full else OrderStatus.PARTIALLY_REFUNDED
    status_transition(
        instance=payment,
        to=payment_to,
        actor=actor,
        action=f"payment.{payment_to}",
        fields={"updated_at": now},
        no_op_states=() if full else (PaymentStatus.PARTIALLY_REFUNDED,),
    )
    change = status_transition(
        instance=order,
        to=order_to,
        actor=actor,
        action=f"order.{order_to}",
        fields={"updated_at": now},
        no_op_states=() if full else (OrderStatus.PARTIALLY_REFUNDED,),
        increment=("version",),
    )
    if change.moved:
        order_status_count_on_commit(order_to)


def _reserve(*, payment: Payment, amount: int) -> None:
    """Raise ``refunded_amount`` by ``amount`` if it stays within the payment (the
    database decides), else 422 ``refund_exceeds_captured``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_payment SET refunded_amount = refunded_amount + %s, "
            "updated_at = %s WHERE id = %s AND refunded_amount + %s <= amount "
            "AND status = ANY(%s) RETURNING refunded_amount",
            [
                amount,
                timezone.now(),
                payment.pk,
                amount,
                [str(s) for s in REFUNDABLE_PAYMENT_STATES],
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise RefundExceedsCapturedError(
            refundable=from_minor(payment.amount - payment.refunded_amount)
        )
    payment.refunded_amount = int(row[0])


def _release(*, payment: Payment, amount: int) -> None:
    """Give a failed refund's ``amount`` back to what may still be refunded."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payments_payment SET refunded_amount = refunded_amount - %s, "
            "updated_at = %s WHERE id = %s AND refunded_amount >= %s RETURNING refunded_amount",
            [amount, timezone.now(), payment.pk, amount],
        )
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"payment {payment.pk}: cannot release {amount} of its refunds")
    payment.refunded_amount = int(row[0])


# --- creating a refund -----------------------------------------------------------------------


def _require_may_refund(*, access: OrderAccess, actor: User, request: RefundRequest) -> None:
    if access.relation == "admin":
        return
    if access.relation != "vendor":
        raise PermissionDeniedError("Only an admin or the vendor of its lines refunds an order.")
    if not request.lines:
        raise PermissionDeniedError("A vendor refunds its own lines: name them in `lines`.")
    own = {item.pk for item in access.items}
    if any(line.item_id not in own for line in request.lines):
        raise PermissionDeniedError("A vendor refunds only its own lines.")
    vendor_require_active(user=actor)


def _captured_payment_of(order: Order) -> Payment:
    if order.status not in REFUNDABLE_ORDER_STATES:
        if order.status == OrderStatus.REFUNDED:
            detail = "This order was refunded in full."
        elif order.status == OrderStatus.PROCESSING:
            detail = "A payment of this order is in progress; it is refunded once it is paid."
        else:
            detail = (
                f"This order is {order.status}: it was never paid, so there is nothing to "
                "refund (an unpaid order is cancelled)."
            )
        raise InvalidStateError(detail, current_status=order.status)
    payment_id = (
        Payment.objects.filter(order=order, status__in=REFUNDABLE_PAYMENT_STATES)
        .values_list("pk", flat=True)
        .first()
    )
    if payment_id is None:
        raise InvalidStateError("This order has no captured payment left to refund.")
    payment = payment_lock(payment_id=payment_id)
    if payment.status not in REFUNDABLE_PAYMENT_STATES:
        raise InvalidStateError("This payment was refunded in full.")
    payment.order = order
    return payment


@use_case
def refund_create(*, access: OrderAccess, actor: User, request: RefundRequest) -> Refund:
    """An admin, or the vendor of the lines, gives back (part of) a paid order.

    Guarantees: the payment's refunds never add up to more than it captured, nor a line's
    to more than its total, however many refunds race (the payment's row lock and a
    conditional update of ``refunded_amount``); the refund, its lines, its audit row and
    payment event, and its ledger movements (immediate or pending) are written in one
    transaction. To a wallet (or for a wallet payment): succeeded at once, the customer's
    wallet credited, the payment and order ``refunded`` / ``partially_refunded``. To a card
    or cash: pending until the gateway answers.

    Refuses, writing nothing: 403 for buyers, for a vendor without ``lines`` or naming
    another vendor's line; 422 ``vendor_inactive``; 409 ``invalid_state`` for an order not
    paid (or in payment) or refunded in full; 409 ``refund_in_progress`` for a full refund
    while the rest is being refunded; 422 ``refund_exceeds_captured``,
    ``refund_exceeds_line``, ``unknown_line``, ``wallet_requires_account`` (a guest's
    order to a wallet), ``insufficient_funds`` (a vendor's earnings already paid out).

    Locks: the payment row, then the order row, then the ledger accounts (the customer's
    wallet, then owned accounts in id order). Enqueues: ``tally.payments.refund_send`` for
    a refund through a gateway.
    """
    _require_may_refund(access=access, actor=actor, request=request)
    order = access.order
    if request.destination == RefundDestination.WALLET and order.customer is None:
        raise RefundWalletNeedsCustomerError()
    payment = _captured_payment_of(order)
    items = list(OrderItem.objects.filter(order=order).order_by("pk"))
    refunded = _refunded_of(payment)
    allocation = _allocate(request=request, payment=payment, items=items, refunded=refunded)
    parts = _reversal_parts(payment=payment, items=items, refunded=refunded, allocation=allocation)
    _reserve(payment=payment, amount=allocation.total)
    at_once = request.destination == RefundDestination.WALLET or payment.gateway in LEDGER_GATEWAYS
    if at_once:
        _statuses_apply(
            payment=payment,
            order=order,
            succeeded=refunded.succeeded + allocation.total,
            actor=actor,
        )
    now = timezone.now()
    refund = Refund.objects.create(
        payment=payment,
        order=order,
        amount=allocation.total,
        destination=request.destination,
        reason=request.reason,
        requested_by=actor,
        created_at=now,
        updated_at=now,
    )
    RefundLine.objects.bulk_create(
        RefundLine(refund=refund, item_id=item_id, amount=amount)
        for item_id, amount in allocation.lines.items()
    )
    audit_record(
        actor=actor,
        action="refund.requested",
        target=refund,
        changes={
            "status": [None, RefundStatus.PENDING],
            "amount": [None, refund.amount],
            "destination": [None, refund.destination],
            "payment": [None, str(payment.pk)],
        },
    )
    payment_event_record(
        payment=payment,
        kind=PaymentEventKind.REFUND,
        payload={
            "action": "requested",
            "refund": str(refund.pk),
            "amount": refund.amount,
            "destination": refund.destination,
            "lines": {str(item_id): amount for item_id, amount in allocation.lines.items()},
            "order_level": allocation.order_level,
            "parts": {str(account.pk): amount for account, amount in parts.items()},
        },
    )
    if at_once:
        _refund_to_wallet(payment=payment, order=order, refund=refund)
        _write_parts(payment=payment, refund=refund, parts=parts, pending=False)
        status_transition(
            instance=refund,
            to=RefundStatus.SUCCEEDED,
            actor=actor,
            action="refund.succeeded",
            fields={"gateway_reference": f"ledger_{refund.pk.hex}", "updated_at": now},
        )
        _count_on_commit(refund, currency=payment.currency)
    else:
        _write_parts(payment=payment, refund=refund, parts=parts, pending=True)
        outbox_enqueue(task_name=REFUND_TASK, payload={"refund_id": str(refund.pk)})
    refund.payment, refund.order = payment, order
    return refund


def _refund_to_wallet(*, payment: Payment, order: Order, refund: Refund) -> None:
    """The payment's clearing account pays the refund into the buyer's wallet. Written
    before the split's reversal so the wallet is locked before the vendors' accounts, as a
    wallet payment locks them."""
    assert order.customer is not None  # nosec B101  # type narrowing, not a check
    wallet = ledger.account_get_or_create(
        owner=order.customer.user, kind=CUSTOMER_WALLET, currency=payment.currency
    )
    ledger.transfer_create(
        debit_account=_clearing(payment),
        credit_account=wallet,
        amount_minor=refund.amount,
        code=ORDER_REFUND,
        reference=_reference(payment),
        metadata={"refund": str(refund.pk), "to": "wallet"},
    )


# --- the gateway call-out job -------------------------------------------------------------------


def refund_call_gateway(attempt: CallOutAttempt, *, refund_id: str) -> dict[str, Any]:
    """Call out (no transaction open): ask the payment's gateway to refund, with the job's
    idempotency key. A transient failure, or an answer that the refund is still processing,
    raises (the job asks again with backoff, the same key)."""
    require_no_transaction()
    refund = Refund.objects.select_related("payment__order").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return {"final": True}
    payment = refund.payment
    started = time.monotonic()
    try:
        answer = gateway_get(payment.gateway).refund(
            gateway_payment_of(payment),
            reference=payment.gateway_reference,
            amount=refund.amount,
            idempotency_key=attempt.idempotency_key,
        )
    except GatewayUnavailableError:
        GATEWAY_SECONDS.labels(payment.gateway, "refund", "unavailable").observe(
            time.monotonic() - started
        )
        raise
    GATEWAY_SECONDS.labels(payment.gateway, "refund", answer.outcome).observe(
        time.monotonic() - started
    )
    if answer.outcome == "pending":
        # Still being processed: ask again later (the same key) rather than settle a refund
        # the gateway may yet make.
        raise GatewayUnavailableError(f"{payment.gateway}: the refund is still processing")
    return answer.as_json()


def _refund_locked(refund_id: str) -> tuple[Refund, Payment] | None:
    """The payment's row lock (every change of its refunds happens under it), then the
    refund read under it; None once the refund is final."""
    payment_id = Refund.objects.filter(pk=refund_id).values_list("payment_id", flat=True).get()
    payment = payment_lock(payment_id=payment_id)
    refund = Refund.objects.get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return None
    return refund, payment


def _refund_succeed(*, refund: Refund, payment: Payment, reference: str) -> None:
    refunded = _refunded_of(payment)
    _statuses_apply(
        payment=payment,
        order=payment.order,
        succeeded=refunded.succeeded + refund.amount,
        actor=None,
    )
    for pending in _pending_parts(refund):
        ledger.transfer_post_pending(pending=pending)
    status_transition(
        instance=refund,
        to=RefundStatus.SUCCEEDED,
        actor=None,
        action="refund.succeeded",
        fields={"gateway_reference": reference[:128], "updated_at": timezone.now()},
    )
    _count_on_commit(refund, currency=payment.currency)


def _refund_fail(*, refund: Refund, payment: Payment, reason: str) -> None:
    for pending in _pending_parts(refund):
        ledger.transfer_void_pending(pending=pending)
    _release(payment=payment, amount=refund.amount)
    status_transition(
        instance=refund,
        to=RefundStatus.FAILED,
        actor=None,
        action="refund.failed",
        fields={"failure_reason": reason[:64], "updated_at": timezone.now()},
        changes={"reason": [None, reason]},
    )
    _count_on_commit(refund, currency=payment.currency)


def refund_settle(attempt: CallOutAttempt, result: dict[str, Any], *, refund_id: str) -> None:
    """Settle (the job's settle transaction, once per job): the gateway refunded the amount
    → post the pending reversal, the refund succeeds, the payment and order are (partially)
    refunded; anything else → void it, give ``refunded_amount`` back, the refund fails.
    Locks the payment, the order, then the accounts."""
    if result.get("final"):
        return
    locked = _refund_locked(refund_id)
    if locked is None:
        return
    refund, payment = locked
    answer = GatewayAnswer.from_json(result)
    payment_event_record(
        payment=payment,
        kind=PaymentEventKind.REFUND,
        payload={"action": "gateway_answer", "refund": str(refund.pk), **answer.as_json()},
    )
    if answer.outcome == "refunded" and answer.amount in (None, refund.amount):
        _refund_succeed(refund=refund, payment=payment, reference=answer.reference)
        return
    reason = "amount_mismatch" if answer.outcome == "refunded" else answer.reason or "declined"
    if reason == "amount_mismatch":
        logger.error(
            "gateway refunded another amount",
            extra={"refund": str(refund.pk), "amount": refund.amount, "answer": answer.amount},
        )
    _refund_fail(refund=refund, payment=payment, reason=reason)


def refund_give_up(attempt: CallOutAttempt, error: str, *, refund_id: str) -> None:
    """After the last failed attempt: the gateway never confirmed, so the reservation is
    released and the refund fails ``gateway_unavailable`` (every attempt carried the same
    idempotency key; check the gateway's records before refunding again)."""
    locked = _refund_locked(refund_id)
    if locked is None:
        return
    refund, payment = locked
    payment_event_record(
        payment=payment,
        kind=PaymentEventKind.REFUND,
        payload={
            "action": "gave_up",
            "refund": str(refund.pk),
            "error": error[:500],
            "attempts": attempt.attempt,
        },
    )
    _refund_fail(refund=refund, payment=payment, reason="gateway_unavailable")


refund_send = outbox_callout_task(
    REFUND_TASK,
    call_out=refund_call_gateway,
    settle=refund_settle,
    give_up=refund_give_up,
    **gateway_job_options(),
)


# --- reading refunds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundView:
    """A refund as one caller may see it: a vendor sees only its own lines (``lines``), and
    not the refund's whole amount."""

    refund: Refund
    relation: str
    lines: list[RefundLine]


def _lines_in_display_order() -> Prefetch[str, QuerySet[RefundLine], str]:
    """A refund's lines in the order's display order (service title, then sku)."""
    return Prefetch(
        "lines",
        queryset=RefundLine.objects.select_related("item").order_by(
            "item__service_title", "item__sku", "item_id"
        ),
    )


def _visible(refund: Refund, access: OrderAccess) -> RefundView | None:
    lines = list(refund.lines.all())
    if access.relation == "vendor":
        own = {item.pk for item in access.items}
        lines = [line for line in lines if line.item_id in own]
        if not lines:
            return None
    refund.order = access.order
    return RefundView(refund=refund, relation=access.relation, lines=lines)


def refund_list_for_order(*, access: OrderAccess) -> QuerySet[Refund]:
    """The refunds of ``access``'s order its caller may see, newest first: all of them for
    its buyer and admins, those touching its lines for a vendor."""
    refunds = (
        Refund.objects.filter(order=access.order)
        .select_related("payment")
        .prefetch_related(_lines_in_display_order())
    )
    if access.relation == "vendor":
        refunds = refunds.filter(
            Exists(
                RefundLine.objects.filter(
                    refund=OuterRef("pk"), item__in=[item.pk for item in access.items]
                )
            )
        )
    return refunds


def refund_view_of(*, refund: Refund, access: OrderAccess) -> RefundView:
    """``refund`` (of ``access``'s order) as its caller may see it: a refund just made, or
    one of ``refund_list_for_order``."""
    if "lines" not in getattr(refund, "_prefetched_objects_cache", {}):
        prefetch_related_objects([refund], _lines_in_display_order())
    view = _visible(refund, access)
    assert view is not None  # nosec B101  # type narrowing, not a check
    return view


def refund_get_for_actor(
    *, actor: User | None, refund_id: UUID | str, access_token: str | None = None
) -> RefundView:
    """The refund ``refund_id`` if ``actor`` (or the order token's holder) may see its
    order: the buyer and admins wholly, a vendor if it touches its lines; else 404."""
    refund = (
        Refund.objects.select_related("payment")
        .prefetch_related(_lines_in_display_order())
        .filter(pk=refund_id)
    ).first()
    if refund is None:
        raise NotFoundError("No such refund.")
    try:
        access = order_get_for_actor(
            actor=actor, order_id=refund.order_id, access_token=access_token
        )
    except NotFoundError:
        raise NotFoundError("No such refund.") from None
    view = _visible(refund, access)
    if view is None:
        raise NotFoundError("No such refund.")
    return view
