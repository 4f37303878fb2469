"""Orders through a real gunicorn with several workers, hit by many buyers at once: the last
units go to exactly as many buyers as there are units, and racing cancels give the stock
back once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from django.db.models import Sum
from rest_framework_simplejwt.tokens import RefreshToken

from tally.catalog.models import Variant
from tally.catalog.stock_counter import stock_counter_peek
from tally.catalog.testing import variant_make
from tally.identity.models import CustomerProfile
from tally.identity.tests.factories import CustomerFactory
from tally.orders.models import Order, OrderItem, OrderStatus
from tally.orders.testing import order_place_body
from tally.platform.audit.models import AuditEvent
from tally.platform.testing.live_server import live_server_run
from tally.platform.testing.race import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)

BUYERS = 50
UNITS = 3


@pytest.fixture(scope="module")
def base_url(django_db_setup: None) -> Iterator[str]:
    """One gunicorn (3 sync workers) for the module, serving the test database."""
    with live_server_run(web_workers=3) as url:
        yield url


def _bearer(customer: CustomerProfile) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(customer.user).access_token}"}


def _post(url: str, *, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    with httpx.Client(timeout=60) as client:
        response = client.post(url, json=body if body is not None else {}, headers=headers or {})
        return response.status_code, response.json()


def test_fifty_buyers_for_the_last_three_units_and_two_racing_cancels(base_url: str) -> None:
    # given: 3 units left; 25 guests and 25 signed-in customers want one each
    variant = variant_make(price=25_00, stock=UNITS)
    url = f"{base_url}/api/v1/orders/"
    customers = [cast(CustomerProfile, CustomerFactory()) for _ in range(BUYERS // 2)]
    requests: list[tuple[dict[str, Any], dict[str, str]]] = [
        (order_place_body([(variant, 1)], email=f"guest{index}@example.com"), {})
        for index in range(BUYERS - len(customers))
    ] + [
        (order_place_body([(variant, 1)], email=None, name=None), _bearer(customer))
        for customer in customers
    ]
    callers = [
        (lambda body=body, headers=headers: _post(url, body=body, headers=headers))
        for body, headers in requests
    ]
    # when: all at once
    outcomes = run_concurrently(*callers)
    # then: every answer is an order or a clean refusal, never a server error
    assert [outcome.error for outcome in outcomes] == [None] * BUYERS
    answers = [outcome.value for outcome in outcomes if outcome.value is not None]
    statuses = Counter(
        (status, None if status == 201 else body["code"]) for status, body in answers
    )
    assert statuses[(201, None)] == UNITS, statuses
    refused = {key: count for key, count in statuses.items() if key[0] != 201}
    assert set(refused) <= {(422, "out_of_stock"), (409, "conflict")}, statuses
    assert sum(refused.values()) == BUYERS - UNITS
    # the database: 3 orders holding exactly 3 units, none left, never below 0
    variant.refresh_from_db()
    assert variant.stock == 0
    lines = OrderItem.objects.filter(variant=variant)
    assert lines.aggregate(units=Sum("quantity"))["units"] == UNITS
    assert Order.objects.count() == UNITS
    assert stock_counter_peek(variant_id=variant.pk) in (0, None)
    placed = [body for status, body in answers if status == 201]
    assert {body["id"] for body in placed} == {
        str(pk) for pk in Order.objects.values_list("pk", flat=True)
    }

    # given: one of the orders, and two cancels of it at once
    buyer = placed[0]
    order = Order.objects.select_related("customer__user").get(pk=buyer["id"])
    headers = (
        {"Order-Token": buyer["access_token"]}
        if order.customer is None
        else _bearer(order.customer)
    )
    cancel_url = f"{url}{order.pk}/cancel/"
    # when
    cancels = run_concurrently(lambda: _post(cancel_url, headers=headers), times=2)
    # then: both answer the cancelled order; its unit came back once
    assert [outcome.error for outcome in cancels] == [None, None]
    cancel_answers = [outcome.value for outcome in cancels if outcome.value is not None]
    assert [(status, body["status"], body["version"]) for status, body in cancel_answers] == [
        (200, "cancelled", 2),
        (200, "cancelled", 2),
    ]
    variant.refresh_from_db()
    assert variant.stock == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert AuditEvent.objects.filter(action="order.cancelled", target_id=str(order.pk)).count() == 1
    # the freed unit sells again, once
    again = run_concurrently(
        lambda: _post(url, body=order_place_body([(variant, 1)], email="late@example.com")),
        times=4,
    )
    assert sorted(outcome.value[0] for outcome in again if outcome.value is not None) == [
        201,
        422,
        422,
        422,
    ]
    assert Variant.objects.get(pk=variant.pk).stock == 0
