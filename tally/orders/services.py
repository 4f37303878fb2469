"""Orders: placing an order (stock reserved, totals computed), and its lifecycle.

Placing an order (``order_place``):

1. Read the variants (one query) and refuse what cannot be sold: unknown, inactive (or its
   service inactive), an inactive vendor's, another currency's; compute the totals from
   the variants' current prices (never the client's).
2. Take the limited lines' units from the Redis counters (``stock_take_fast``): a sold-out
   variant is refused here, before the database is touched.
3. One transaction: reserve the units in PostgreSQL (conditional decrements, in variant id
   order), write the order and its item snapshots, the audit row and the buyer's email
   (outbox, sent after commit). If anything fails, the units taken from the counters are
   given back.

Lifecycle: pending → processing → confirmed → completed; pending/processing → failed;
pending → cancelled; confirmed/completed → refunded/partially_refunded (payments). Every
change is ``status_transition`` (one conditional update that also adds one to ``version``;
an ``If-Match`` version is a condition of the same statement). Leaving a stock-holding state
for cancelled or failed releases the stock in the same transaction; that transition can
happen once, so the stock is released exactly once, however many cancels race.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from tally.catalog.exceptions import (
    CurrencyMismatchError,
    UnknownVariantError,
    VariantUnavailableError,
)
from tally.catalog.models import Variant
from tally.catalog.stock import (
    StockLine,
    stock_give_back_fast,
    stock_release,
    stock_reserve,
    stock_take_fast,
)
from tally.identity.exceptions import VendorInactiveError
from tally.identity.models import CustomerProfile, User
from tally.identity.services import vendor_require_active
from tally.notifications.services import notification_send
from tally.orders.exceptions import GuestContactRequiredError, QuantityAboveLimitError
from tally.orders.metrics import order_status_count_on_commit
from tally.orders.models import STOCK_HOLDING_STATES, Order, OrderItem, OrderStatus
from tally.orders.numbering import order_number_next
from tally.orders.selectors import OrderAccess, order_token_hash
from tally.platform.audit.services import audit_record
from tally.platform.db import use_case, use_case_transaction
from tally.platform.exceptions import InvalidStateError, PermissionDeniedError
from tally.platform.money import from_minor, to_minor
from tally.platform.status import StatusChange, status_transition

logger = logging.getLogger(__name__)

EXPIRE_BATCH_SIZE = 200
ACCESS_TOKEN_BYTES = 32

CANCEL_REASONS = {
    "customer_request": "cancelled at the buyer's request",
    "admin": "cancelled by an admin",
    "payment_timeout": "not paid in time",
}


@dataclass(frozen=True)
class OrderLineDraft:
    variant_id: UUID
    quantity: int


@dataclass(frozen=True)
class OrderDraft:
    """What a buyer asks for. A guest gives ``email`` and ``name`` (``phone`` optional); a
    customer's contact details come from its account unless given."""

    lines: Sequence[OrderLineDraft]
    shipping_address: Mapping[str, str]
    currency: str | None = None
    email: str = ""
    name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class PlacedOrder:
    """The new order, its lines, and (guest orders only) the access token: shown once, only
    its hash is stored."""

    order: Order
    items: list[OrderItem]
    access_token: str | None = None


@dataclass
class _Priced:
    variant: Variant
    quantity: int
    line_total: int = field(init=False)

    def __post_init__(self) -> None:
        self.line_total = self.variant.price * self.quantity


# --- placing an order ---------------------------------------------------------------------


def _merged(lines: Sequence[OrderLineDraft]) -> dict[UUID, int]:
    """One quantity per variant (the same variant twice is one line of the sum)."""
    quantities: dict[UUID, int] = {}
    for line in lines:
        quantities[line.variant_id] = quantities.get(line.variant_id, 0) + line.quantity
    limit = int(settings.ORDER_MAX_QUANTITY)
    for variant_id, quantity in quantities.items():
        if quantity > limit:
            raise QuantityAboveLimitError(
                f"At most {limit} units of one variant per order.", variant_id=str(variant_id)
            )
    return quantities


def _priced_lines(quantities: Mapping[UUID, int], currency: str) -> list[_Priced]:
    variants = {
        variant.pk: variant
        for variant in Variant.objects.select_related("service__vendor").filter(
            pk__in=list(quantities)
        )
    }
    priced = []
    for variant_id, quantity in quantities.items():
        variant = variants.get(variant_id)
        if variant is None:
            raise UnknownVariantError(variant_id=str(variant_id))
        if not (variant.is_active and variant.service.is_active):
            raise VariantUnavailableError(variant_id=str(variant_id))
        if not variant.service.vendor.is_active:
            raise VendorInactiveError(
                "This service's vendor is not active; its services cannot be ordered.",
                variant_id=str(variant_id),
            )
        if variant.currency != currency:
            raise CurrencyMismatchError(
                f"This variant is priced in {variant.currency}, the order in {currency}.",
                variant_id=str(variant_id),
            )
        priced.append(_Priced(variant=variant, quantity=quantity))
    return priced


def order_tax_of(subtotal: int) -> int:
    """The tax on ``subtotal`` (minor units) at ``ORDER_TAX_RATE_PERCENT``, half up."""
    rate = Decimal(str(settings.ORDER_TAX_RATE_PERCENT))
    return int((Decimal(subtotal) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _buyer(actor: User | None, draft: OrderDraft) -> tuple[CustomerProfile | None, str, str, str]:
    """The customer (None: a guest) and the order's contact email, name and phone."""
    if actor is None or not actor.is_authenticated:
        if not draft.email or not draft.name:
            raise GuestContactRequiredError()
        return None, draft.email, draft.name, draft.phone
    if not actor.is_customer:
        raise PermissionDeniedError("Only customers and guests place orders.")
    customer = CustomerProfile.objects.get(user=actor)
    return (
        customer,
        draft.email or actor.email,
        draft.name or actor.full_name or actor.email,
        draft.phone or customer.phone,
    )


def order_place(*, actor: User | None, draft: OrderDraft) -> PlacedOrder:
    """A customer (``actor``) or a guest (``actor`` None) places an order.

    Guarantees: the stock of every limited line is reserved in the same transaction as the
    order, its items and its audit row (``order.placed``), all or nothing; totals come from
    the variants' prices now; a guest gets an access token (shown once, stored hashed). A
    sold-out variant is refused by its Redis counter before the database is touched when
    the counter is available, else by the database: 422 ``out_of_stock``, nothing written,
    no unit held. Refuses: 422 ``unknown_variant``, ``variant_unavailable``,
    ``vendor_inactive``, ``currency_mismatch``, ``out_of_stock``; 400
    ``quantity_above_limit``, ``guest_contact_required``; 403 for callers other than
    customers and guests. Locks: the limited variants' rows (conditional updates, in id
    order) until commit. Enqueues: the buyer's ``order_placed`` email.
    """
    customer, email, name, phone = _buyer(actor, draft)
    currency = draft.currency or str(settings.TALLY_CURRENCY)
    priced = _priced_lines(_merged(draft.lines), currency)
    limited = [
        StockLine(variant_id=line.variant.pk, quantity=line.quantity)
        for line in priced
        if line.variant.stock is not None
    ]
    taken = stock_take_fast(lines=limited)
    try:
        return _order_write(
            actor=actor,
            customer=customer,
            contact=(email, name, phone),
            draft=draft,
            currency=currency,
            priced=priced,
            limited=limited,
        )
    except BaseException:
        stock_give_back_fast(lines=taken)
        raise


@use_case
def _order_write(
    *,
    actor: User | None,
    customer: CustomerProfile | None,
    contact: tuple[str, str, str],
    draft: OrderDraft,
    currency: str,
    priced: list[_Priced],
    limited: list[StockLine],
) -> PlacedOrder:
    stock_reserve(lines=limited)
    email, name, phone = contact
    subtotal = sum(line.line_total for line in priced)
    shipping = to_minor(str(settings.ORDER_SHIPPING_FEE))
    tax = order_tax_of(subtotal)
    token = None if customer is not None else secrets.token_urlsafe(ACCESS_TOKEN_BYTES)
    now = timezone.now()
    order = Order.objects.create(
        number=order_number_next(),
        customer=customer,
        email=email,
        name=name,
        phone=phone,
        shipping_address=dict(draft.shipping_address),
        access_token_hash=order_token_hash(token) if token else "",
        status=OrderStatus.PENDING,
        currency=currency,
        subtotal=subtotal,
        shipping=shipping,
        tax=tax,
        total=subtotal + shipping + tax,
        payment_due_at=now + timedelta(minutes=int(settings.ORDER_PAYMENT_TIMEOUT_MINUTES)),
        created_at=now,
        updated_at=now,
    )
    items = OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            variant=line.variant,
            vendor_id=line.variant.service.vendor_id,
            service_title=line.variant.service.title,
            variant_name=line.variant.name,
            sku=line.variant.sku,
            unit_price=line.variant.price,
            quantity=line.quantity,
            line_total=line.line_total,
            stock_reserved=line.variant.stock is not None,
            created_at=now,
        )
        for line in sorted(priced, key=lambda line: (line.variant.service.title, line.variant.sku))
    )
    audit_record(
        actor=actor,
        action="order.placed",
        target=order,
        changes={
            "status": [None, OrderStatus.PENDING],
            "total": [None, order.total],
            "buyer": [None, "customer" if customer is not None else "guest"],
        },
    )
    _notify_placed(order=order, items=items, token=token)
    order_status_count_on_commit(OrderStatus.PENDING)
    return PlacedOrder(order=order, items=items, access_token=token)


def order_guest_link(*, order: Order, token: str) -> str:
    """Where a guest opens its order (``ORDER_GUEST_LINK`` filled in)."""
    return str(settings.ORDER_GUEST_LINK).format(order_id=order.pk, token=token)


def _addressee(order: Order) -> dict[str, Any]:
    if order.customer is not None:
        return {"user": order.customer.user}
    return {"recipient": order.email}


def _notify_placed(*, order: Order, items: Sequence[OrderItem], token: str | None) -> None:
    context: dict[str, Any] = {
        "name": order.name,
        "order_number": order.number,
        "total": from_minor(order.total),
        "currency": order.currency,
        "items": [
            {
                "title": item.service_title,
                "variant": item.variant_name,
                "quantity": item.quantity,
                "line_total": from_minor(item.line_total),
            }
            for item in items
        ],
        "payment_due_at": order.payment_due_at,
    }
    if token is not None:
        context["order_url"] = order_guest_link(order=order, token=token)
    notification_send(
        **_addressee(order),
        kind="order_placed",
        context=context,
        dedup_key=f"order_placed:{order.pk}",
    )


# --- lifecycle ----------------------------------------------------------------------------


def _transition(
    *,
    order: Order,
    to: str,
    actor: User | None,
    action: str,
    expected_version: int | None = None,
    fields: Mapping[str, Any] | None = None,
    changes: Mapping[str, list[Any]] | None = None,
    no_op_states: Sequence[str] = (),
) -> StatusChange:
    change = status_transition(
        instance=order,
        to=to,
        actor=actor,
        action=action,
        fields={"updated_at": timezone.now(), **(fields or {})},
        changes=changes,
        no_op_states=no_op_states,
        expected=None if expected_version is None else {"version": expected_version},
        increment=("version",),
    )
    if change.moved:
        order_status_count_on_commit(to)
    return change


def _release_stock(order: Order) -> None:
    lines = [
        StockLine(variant_id=item.variant_id, quantity=item.quantity)
        for item in order.items.all()
        if item.stock_reserved
    ]
    if lines:
        stock_release(lines=lines)


def _end_before_payment(
    *,
    order: Order,
    to: str,
    actor: User | None,
    action: str,
    reason: str,
    expected_version: int | None,
) -> StatusChange:
    """Move a stock-holding order to cancelled or failed and release its stock, once."""
    change = _transition(
        order=order,
        to=to,
        actor=actor,
        action=action,
        expected_version=expected_version,
        fields={"status_reason": reason, "stock_released_at": timezone.now()},
        changes={"reason": [None, reason]},
        no_op_states=(to,),
    )
    if change.moved:
        if change.old not in STOCK_HOLDING_STATES:
            raise RuntimeError(f"order {order.pk}: moved from {change.old}, which holds no stock")
        _release_stock(order)
    return change


@use_case
def order_cancel(
    *,
    access: OrderAccess,
    actor: User | None,
    reason: str = "customer_request",
    expected_version: int | None = None,
) -> Order:
    """The buyer (customer or guest with the token) or an admin cancels an unpaid order.

    Guarantees: pending → cancelled and the stock given back in one transaction, once:
    concurrent cancels release once (the others find it cancelled: a no-op answering the
    cancelled order). The buyer is emailed. Refuses: 409 ``invalid_state`` once it is in
    payment or paid (a paid order is refunded instead), 409 ``conflict`` for a stale
    ``expected_version``; 404/403 for vendors (their view of an order is read-only).
    Locks: the order row, then the variants' rows. Enqueues: ``order_cancelled`` email.
    """
    if access.relation not in ("customer", "guest", "admin"):
        raise PermissionDeniedError("Only the buyer or an admin can cancel an order.")
    if reason not in CANCEL_REASONS:
        raise ValueError(f"unknown cancel reason {reason!r}")
    order = access.order
    change = _end_before_payment(
        order=order,
        to=OrderStatus.CANCELLED,
        actor=actor,
        action="order.cancelled",
        reason=reason,
        expected_version=expected_version,
    )
    if change.moved:
        _notify_cancelled(order)
    return order


def _notify_cancelled(order: Order) -> None:
    notification_send(
        **_addressee(order),
        kind="order_cancelled",
        context={
            "name": order.name,
            "order_number": order.number,
            "reason": CANCEL_REASONS.get(order.status_reason, order.status_reason),
        },
        dedup_key=f"order_cancelled:{order.pk}",
    )


@use_case
def order_complete(
    *, access: OrderAccess, actor: User, expected_version: int | None = None
) -> Order:
    """An admin, or the (active) vendor of every line, marks a paid order delivered.

    Guarantees: confirmed → completed (a repeat is a no-op). Refuses: 403 for buyers and
    for a vendor with only some of the lines; 422 ``vendor_inactive`` for a vendor an admin
    has not activated (it cannot sell); 409 ``invalid_state`` before payment or after
    a refund; 409 ``conflict`` for a stale ``expected_version``. Locks the order row.
    Enqueues nothing.
    """
    if access.relation == "vendor":
        if access.vendor is None or access.order.items.exclude(vendor=access.vendor).exists():
            raise PermissionDeniedError(
                "Only an admin completes an order with other vendors' lines."
            )
        vendor_require_active(user=actor)
    elif access.relation != "admin":
        raise PermissionDeniedError("Only the vendor or an admin can complete an order.")
    order = access.order
    _transition(
        order=order,
        to=OrderStatus.COMPLETED,
        actor=actor,
        action="order.completed",
        expected_version=expected_version,
        no_op_states=(OrderStatus.COMPLETED,),
    )
    return order


# --- payment hooks (called by the payments use cases, inside their transaction) ------------


def order_payment_start(*, order: Order, actor: User | None) -> StatusChange:
    """pending → processing: a payment is under way (its stock stays reserved)."""
    return _transition(
        order=order, to=OrderStatus.PROCESSING, actor=actor, action="order.payment_started"
    )


def order_payment_abandon(*, order: Order, actor: User | None) -> StatusChange:
    """processing → pending: the attempt ended with no money moved; the buyer may pay again."""
    return _transition(
        order=order, to=OrderStatus.PENDING, actor=actor, action="order.payment_abandoned"
    )


def order_payment_succeed(*, order: Order, actor: User | None) -> StatusChange:
    """pending/processing → confirmed: paid (a repeat is a no-op)."""
    return _transition(
        order=order,
        to=OrderStatus.CONFIRMED,
        actor=actor,
        action="order.confirmed",
        no_op_states=(OrderStatus.CONFIRMED,),
    )


def order_payment_fail(*, order: Order, actor: User | None, reason: str) -> StatusChange:
    """pending/processing → failed: the payment failed for good; the stock is released once."""
    return _end_before_payment(
        order=order,
        to=OrderStatus.FAILED,
        actor=actor,
        action="order.failed",
        reason=reason,
        expected_version=None,
    )


# --- unpaid orders ------------------------------------------------------------------------


def order_expire_unpaid(*, now: datetime | None = None, batch_size: int = EXPIRE_BATCH_SIZE) -> int:
    """Beat job: cancel every pending order past its payment deadline and release its stock.

    Each order in its own short transaction; one that a payment moved meanwhile is skipped
    (the conditional transition refuses it). Safe to run concurrently and to repeat.
    Returns how many orders it cancelled.
    """
    cancelled = 0
    moment = now or timezone.now()
    while True:
        due = list(
            Order.objects.filter(status=OrderStatus.PENDING, payment_due_at__lte=moment)
            .order_by("payment_due_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        moved_now = 0
        for order_id in due:
            if _order_expire_one(order_id=order_id):
                moved_now += 1
        cancelled += moved_now
        if len(due) < batch_size or moved_now == 0:
            return cancelled


def _order_expire_one(*, order_id: UUID) -> bool:
    try:
        with use_case_transaction():
            order = Order.objects.select_related("customer__user").get(pk=order_id)
            change = _end_before_payment(
                order=order,
                to=OrderStatus.CANCELLED,
                actor=None,
                action="order.expired",
                reason="payment_timeout",
                expected_version=None,
            )
            if change.moved:
                _notify_cancelled(order)
            return change.moved
    except InvalidStateError:
        return False
