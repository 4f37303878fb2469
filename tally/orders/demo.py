"""Demo orders from the demo catalog, one in each state a buyer, vendor or admin meets:

- a guest's order (Sam Guest, ``sam.guest@example.com``), pending, with lines of both demo
  vendors;
- customer1's order, pending;
- customer2's order, cancelled at its request (its units are back in stock);
- customer1's order, to be paid (confirmed) by ``tally.payments.demo``;
- customer2's order, to be paid and completed by its vendor, Demo Mobile (``tally.payments.demo``).

Placed and moved through the orders services, as the API would (stock reserved, audit rows,
emails queued). A demo order is known by its buyer's email and its first line's sku: one
that exists already is left as it is, so loading twice changes nothing. Pending orders are
cancelled by the payment-timeout job once their payment is due, like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.catalog.models import Variant
from tally.identity.models import User
from tally.orders.models import Order, OrderStatus
from tally.orders.selectors import order_get_for_actor
from tally.orders.services import (
    OrderDraft,
    OrderLineDraft,
    order_cancel,
    order_place,
)
from tally.platform.db import use_case
from tally.platform.demo import DemoAccount

GUEST_EMAIL = "sam.guest@example.com"
DEMO_ADDRESS = {
    "line1": "1 Market Street",
    "line2": "Apartment 4",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94105",
    "country": "US",
}


@dataclass(frozen=True)
class DemoOrder:
    buyer: str  # a demo customer's email, or GUEST_EMAIL
    lines: tuple[tuple[str, int], ...]  # (sku, quantity)
    status: str


DEMO_ORDERS = (
    DemoOrder(GUEST_EMAIL, (("CLEAN-STUDIO", 1), ("WIN-10", 1)), OrderStatus.PENDING),
    DemoOrder("customer1@tally.local", (("PLUMB-HOUR", 2),), OrderStatus.PENDING),
    DemoOrder("customer2@tally.local", (("ENG-FULL", 1),), OrderStatus.CANCELLED),
    DemoOrder("customer1@tally.local", (("CLEAN-2BED", 1),), OrderStatus.CONFIRMED),
    DemoOrder(
        "customer2@tally.local", (("ENG-DIAG", 1), ("CLEAN-HOUSE", 1)), OrderStatus.COMPLETED
    ),
)


def _exists(demo: DemoOrder) -> bool:
    first_sku = demo.lines[0][0]
    return Order.objects.filter(email=demo.buyer, items__sku=first_sku).exists()


def _place(demo: DemoOrder) -> Order:
    variants = {
        variant.sku: variant
        for variant in Variant.objects.filter(
            service__vendor__user__email__endswith="@tally.local",
            sku__in=[sku for sku, _ in demo.lines],
        )
    }
    lines = [
        OrderLineDraft(variant_id=variants[sku].pk, quantity=quantity)
        for sku, quantity in demo.lines
    ]
    if demo.buyer == GUEST_EMAIL:
        draft = OrderDraft(
            lines=lines,
            shipping_address=DEMO_ADDRESS,
            email=GUEST_EMAIL,
            name="Sam Guest",
            phone="+14155550199",
        )
        return order_place(actor=None, draft=draft).order
    buyer = User.objects.get(email=demo.buyer)
    draft = OrderDraft(lines=lines, shipping_address=DEMO_ADDRESS)
    return order_place(actor=buyer, draft=draft).order


@use_case
def demo_data_load() -> list[DemoAccount]:
    for demo in DEMO_ORDERS:
        if _exists(demo):
            continue
        order = _place(demo)
        if demo.status == OrderStatus.CANCELLED:
            buyer = User.objects.get(email=demo.buyer)
            access = order_get_for_actor(actor=buyer, order_id=order.pk)
            order_cancel(access=access, actor=buyer, reason="customer_request")
        order.refresh_from_db()
        # Paid demo orders stay pending here: tally.payments.demo pays them (a real payment).
        expected = (
            OrderStatus.CANCELLED if demo.status == OrderStatus.CANCELLED else OrderStatus.PENDING
        )
        assert order.status == expected, (order.number, order.status, expected)
    return []
