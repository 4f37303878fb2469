"""The checkout scenario's database checks, against orders placed and paid through the real
services: they hold for honest books and catch a misplaced unit of money or a wrong
refusal."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from bench.scenarios import (
    Catalog,
    CheckoutAttempt,
    CheckoutBooks,
    CheckoutFlow,
    OrderBooks,
    ScenarioReport,
    catalog_seed,
    catalog_vendor_ids,
    checkout_checks,
    customers_seed,
    short_order_total,
)


def _anomalies(flow: CheckoutFlow, catalog: Catalog) -> list[str]:
    report = ScenarioReport("checkout", "")
    customers = [c.id for c in [*flow.customers, *flow.short]]
    books = CheckoutBooks.read(customers, catalog_vendor_ids(catalog))
    checkout_checks(report, catalog, [flow], books, OrderBooks.read(catalog.all_ids))
    return [check.name for check in report.anomalies]


@pytest.mark.django_db
@override_settings(ORDER_SHIPPING_FEE="4.99", ORDER_TAX_RATE_PERCENT="8.25")
def test_the_checks_hold_for_real_checkouts_and_catch_misplaced_money() -> None:
    from tally.identity.models import User
    from tally.ledger.exceptions import InsufficientFundsError
    from tally.orders.selectors import order_get_for_actor
    from tally.orders.services import OrderDraft, OrderLineDraft, order_place
    from tally.payments.services import PaymentRequest, payment_start
    from tally.platform.money import from_minor

    # given: two funded customers and one who can afford one small order and a half
    catalog = catalog_seed(variants=12, hot_stock=0, label="checkout")
    small = short_order_total(catalog.variants[0])
    assert small == 10_00 + 4_99 + 83  # 8.25 % of 10.00, half up
    funded = customers_seed(count=2, wallet_minor=1_000_00, first=1_000)
    short = customers_seed(count=1, wallet_minor=small + small // 2, first=1_002)
    flow = CheckoutFlow(
        variants=catalog.variants,
        customers=funded,
        short=short,
        short_variant=catalog.variants[0],
        seed=1,
    )

    def checkout(customer_id: str, lines: list[tuple[str, int]]) -> CheckoutAttempt:
        buyer = User.objects.get(pk=customer_id)
        draft = OrderDraft(
            lines=[OrderLineDraft(variant_id=uuid.UUID(v), quantity=q) for v, q in lines],
            shipping_address={"line1": "1 Bench St", "city": "SF", "country": "US"},
        )
        order = order_place(actor=buyer, draft=draft).order
        attempt = CheckoutAttempt(customer_id, 0.0, 201, str(order.pk), from_minor(order.total))
        try:
            payment = payment_start(
                access=order_get_for_actor(actor=buyer, order_id=order.pk),
                actor=buyer,
                request=PaymentRequest(method="wallet"),
            )
        except InsufficientFundsError:
            attempt.payment_status, attempt.payment_code = 422, "insufficient_funds"
        else:
            attempt.payment_status, attempt.payment_id = 201, str(payment.pk)
            attempt.paid = from_minor(payment.amount)
        flow.attempts.append(attempt)
        return attempt

    # when: two vendors' lines in one order, one vendor's in another, and the short
    # customer's two small orders (the second refused)
    checkout(funded[0].id, [(catalog.variants[0], 2), (catalog.variants[11], 3)])
    checkout(funded[1].id, [(catalog.variants[5], 1)])
    assert checkout(short[0].id, [(catalog.variants[0], 1)]).payment_status == 201
    refused = checkout(short[0].id, [(catalog.variants[0], 1)])

    # then
    assert refused.payment_status == 422
    assert _anomalies(flow, catalog) == []

    # when: the refused customer is said to have been refused while it could pay
    refused.total = from_minor(small // 2)
    # then
    assert _anomalies(flow, catalog) == [
        "insufficient_funds only when the wallet held less than the order's total"
    ]
    refused.total = from_minor(small)

    # when: a unit of a vendor's earnings goes missing outside any payment
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account SET balance = balance - 1 WHERE kind = 'vendor_earnings'"
            " AND owner_id = (SELECT s.vendor_id FROM catalog_variant AS v JOIN catalog_service"
            " AS s ON s.id = v.service_id WHERE v.id = %s)",
            [uuid.UUID(catalog.variants[5])],
        )
    # then
    assert _anomalies(flow, catalog) == ["per vendor, earnings == the sum of its shares"]


@pytest.mark.django_db
def test_a_payment_answered_201_but_not_in_the_books_is_an_anomaly() -> None:
    catalog = catalog_seed(variants=2, hot_stock=0, label="checkout")
    (customer,) = customers_seed(count=1, wallet_minor=50_00, first=1_000)
    flow = CheckoutFlow(variants=catalog.variants, customers=[customer], seed=1)
    flow.attempts.append(
        CheckoutAttempt(customer.id, 0.0, 201, str(uuid.uuid4()), "10.00", 201, str(uuid.uuid4()))
    )
    flow.attempts[0].paid = "10.00"

    assert _anomalies(flow, catalog) == [
        "orders in the database == 201 answers",
        "every 201 payment is captured and its order confirmed",
        "payments in the database == 201 answers",
        "each payment's amount == its order's total (answered and written)",
        "per customer, wallet == credited - captured wallet payments == credited - 201s",
    ]


def test_every_sixth_checkout_is_a_short_customers_small_order_in_turn() -> None:
    from bench.scenarios import Customer

    funded = [Customer(id=f"f{n}", token="") for n in range(5)]
    short = [Customer(id="s0", token=""), Customer(id="s1", token="")]
    flow = CheckoutFlow(
        variants=["a", "b", "c"], customers=funded, short=short, short_variant="a", seed=1
    )

    baskets = [flow.basket() for _ in range(25)]

    shorts = [(n, customer.id, items) for n, (customer, items) in enumerate(baskets)]
    assert [(n, c) for n, c, _ in shorts if c.startswith("s")] == [
        (0, "s0"),
        (6, "s1"),
        (12, "s0"),
        (18, "s1"),
        (24, "s0"),
    ]
    assert all(
        items == [{"variant_id": "a", "quantity": 1}] for _, c, items in shorts if c[0] == "s"
    )
    assert all(1 <= len(items) <= 3 for _, c, items in shorts if c.startswith("f"))
