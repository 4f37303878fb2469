"""The orders scenario's verdicts: the refusal timing test, and the database checks run
against orders placed through the real services."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bench.scenarios import (
    Catalog,
    OrderAttempt,
    OrderBooks,
    OrderCancel,
    OrderFlow,
    ScenarioReport,
    catalog_seed,
    customers_seed,
    hot_stock_for,
    orders_checks,
    refusals_before_sold_out,
)


def _hot(started: float, ended: float, status: int) -> OrderAttempt:
    code = "out_of_stock" if status == 422 else ""
    return OrderAttempt(started, ended, 1, status, guest=False, code=code)


def test_a_refusal_after_every_unit_was_asked_for_is_legitimate() -> None:
    attempts = [_hot(0.0, 1.0, 201), _hot(0.5, 1.5, 201), _hot(2.0, 2.1, 422)]
    assert refusals_before_sold_out(attempts, [], stock=2) == []


def test_a_refusal_while_fewer_units_were_asked_for_than_the_stock_is_premature() -> None:
    refusal = _hot(0.5, 0.6, 422)
    attempts = [_hot(0.0, 1.0, 201), refusal, _hot(0.7, 1.5, 201)]
    assert refusals_before_sold_out(attempts, [], stock=2) == [refusal]


def test_units_of_an_order_cancelled_before_the_refusal_count_as_back() -> None:
    late = _hot(3.0, 3.1, 422)
    during = _hot(1.5, 2.5, 422)
    attempts = [_hot(0.0, 1.0, 201), during, late]
    cancels = [OrderCancel(1.9, 2.0, 1, 200)]
    # The cancel answered before the late refusal began: a unit was back, the refusal early.
    assert refusals_before_sold_out(attempts, cancels, stock=1) == [late]
    # A cancel that failed gave nothing back.
    assert refusals_before_sold_out(attempts, [OrderCancel(1.9, 2.0, 1, 409)], stock=1) == []


def test_refusals_over_before_another_one_began_held_nothing() -> None:
    first, second = _hot(1.1, 1.2, 422), _hot(2.0, 2.1, 422)
    assert refusals_before_sold_out([_hot(0.0, 1.0, 201), first, second], [], stock=1) == []
    lone = _hot(0.0, 0.1, 422)
    assert refusals_before_sold_out([lone], [], stock=1) == [lone]


def test_attempts_without_the_hot_variant_do_not_count() -> None:
    plain = OrderAttempt(0.0, 1.0, 0, 201, guest=True)
    refusal = _hot(2.0, 2.1, 422)
    assert refusals_before_sold_out([plain, refusal], [], stock=1) == [refusal]


def _checks(report: ScenarioReport) -> dict[str, bool]:
    return {check.name: check.ok for check in report.checks}


@pytest.mark.django_db
def test_the_database_checks_hold_for_real_orders_and_catch_a_lost_unit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from tally.catalog.models import Variant
    from tally.identity.models import User
    from tally.orders.selectors import order_get_for_actor
    from tally.orders.services import OrderDraft, OrderLineDraft, order_cancel, order_place

    # given: the bench's catalog, a customer's order with the hot variant (later cancelled),
    # a guest's order with it, and a refused one once it is gone
    catalog = catalog_seed(variants=3, hot_stock=2)
    assert isinstance(catalog, Catalog)
    (customer,) = customers_seed(count=1, wallet_minor=0)
    buyer = User.objects.get(pk=customer.id)
    flow = OrderFlow(variants=catalog.variants, hot=catalog.hot, customers=[customer], seed=1)

    def lines(variant: str, quantity: int) -> list[OrderLineDraft]:
        hot = OrderLineDraft(variant_id=uuid.UUID(catalog.hot), quantity=1)
        return [OrderLineDraft(variant_id=uuid.UUID(variant), quantity=quantity), hot]

    address = {"line1": "1 Bench Street", "city": "SF", "postal_code": "94105", "country": "US"}
    mine = order_place(
        actor=buyer, draft=OrderDraft(lines=lines(catalog.variants[0], 3), shipping_address=address)
    ).order
    flow.attempts.append(OrderAttempt(0.0, 1.0, 1, 201, guest=False))
    with django_capture_on_commit_callbacks(execute=True):  # the counter gets its unit back
        order_cancel(access=order_get_for_actor(actor=buyer, order_id=mine.pk), actor=buyer)
    flow.cancels.append(OrderCancel(1.0, 1.1, 1, 200))
    for n, variant in enumerate(catalog.variants[1:]):
        order_place(
            actor=None,
            draft=OrderDraft(
                lines=lines(variant, 2), shipping_address=address, email="g@example.com", name="G"
            ),
        )
        flow.attempts.append(OrderAttempt(2.0 + n, 3.0 + n, 1, 201, guest=True))
    flow.attempts.append(
        OrderAttempt(9.0, 9.1, 1, 422, guest=True, code="out_of_stock", variant_id=catalog.hot)
    )

    # when
    report = ScenarioReport("orders", "")
    books = OrderBooks.read(catalog.all_ids)
    orders_checks(report, catalog, [flow], books)

    # then
    assert books.held == {
        catalog.variants[0]: 0,
        catalog.variants[1]: 2,
        catalog.variants[2]: 2,
        catalog.hot: 2,
    }
    assert (books.orders, books.guest_orders, books.cancelled) == (3, 2, 1)
    assert all(_checks(report).values()), report.anomalies

    # when: a unit goes missing from a variant's stock outside any order
    Variant.objects.filter(pk=catalog.variants[1]).update(stock=999_997)
    report = ScenarioReport("orders", "")
    orders_checks(report, catalog, [flow], OrderBooks.read(catalog.all_ids))

    # then
    assert [check.name for check in report.anomalies] == [
        "reserved units == units of orders holding them, per variant"
    ]


def test_the_hot_stock_is_a_third_of_its_expected_demand_and_at_least_the_floor() -> None:
    # 40 orders/s for 30 s, a quarter with one hot unit: 300 units asked for
    assert hot_stock_for(warm_up_orders_per_s=40.0, duration=30.0, floor=50) == 100
    assert hot_stock_for(warm_up_orders_per_s=2.0, duration=30.0, floor=50) == 50
