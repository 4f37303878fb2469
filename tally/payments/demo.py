"""Demo payments: the demo orders meant to be paid (``tally.orders.demo``: customer1's
"Two bedrooms" clean, confirmed; customer2's diagnosis and house clean, completed) are paid
in cash and confirmed by the demo admin, so they carry real captured payments, the ledger
split between the vendors, the commission and the tax, and (once the worker runs) their
invoices. An order already paid is left as it is, so loading twice changes nothing."""

from __future__ import annotations

from tally.identity.models import User
from tally.orders.models import Order, OrderStatus
from tally.orders.selectors import order_get_for_actor
from tally.orders.services import order_complete
from tally.payments.services import PaymentRequest, payment_confirm_manual, payment_start
from tally.platform.db import use_case
from tally.platform.demo import DemoAccount

# (buyer, first line's sku, status wanted)
DEMO_PAID = (
    ("customer1@tally.local", "CLEAN-2BED", OrderStatus.CONFIRMED),
    ("customer2@tally.local", "ENG-DIAG", OrderStatus.COMPLETED),
)


@use_case
def demo_data_load() -> list[DemoAccount]:
    admin = User.objects.get(email="admin@tally.local")
    vendor = User.objects.get(email="vendor1@tally.local")
    for buyer_email, sku, wanted in DEMO_PAID:
        order = Order.objects.filter(email=buyer_email, items__sku=sku).first()
        if order is None or order.status != OrderStatus.PENDING:
            continue
        buyer = User.objects.get(email=buyer_email)
        access = order_get_for_actor(actor=buyer, order_id=order.pk)
        payment = payment_start(access=access, actor=buyer, request=PaymentRequest("cash"))
        payment_confirm_manual(actor=admin, payment=payment, reference="demo till")
        if wanted == OrderStatus.COMPLETED:
            access = order_get_for_actor(actor=vendor, order_id=order.pk)
            order_complete(access=access, actor=vendor)
        order.refresh_from_db()
        assert order.status == wanted, (order.number, order.status, wanted)
    return []
