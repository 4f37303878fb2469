"""Who may pay an order, read a payment, and confirm cash: each role, each endpoint; every
refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.catalog.testing import service_make, variant_make
from tally.identity.models import User
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)
from tally.identity.tests.fixtures import authenticate
from tally.orders.models import Order
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_place_for_test
from tally.payments.models import Payment
from tally.payments.services import PaymentRequest, payment_start

pytestmark = pytest.mark.django_db


@dataclass
class World:
    customer_order: Order
    guest_order: Order
    guest_token: str
    customer: User
    vendor: User
    cash: Payment


def _world() -> World:
    vendor = VendorFactory()
    variant = variant_make(service=service_make(vendor=vendor), price=10_00, stock=None)
    customer = CustomerFactory()
    customer_order = order_place_for_test(lines=[(variant, 1)], customer=customer).order
    guest = order_place_for_test(lines=[(variant, 1)])
    cash_order = order_place_for_test(lines=[(variant, 1)], customer=customer).order
    access = order_get_for_actor(actor=customer.user, order_id=cash_order.pk)
    cash = payment_start(access=access, actor=customer.user, request=PaymentRequest("cash"))
    assert guest.access_token is not None
    return World(customer_order, guest.order, guest.access_token, customer.user, vendor.user, cash)


def _client(user: User | None, token: str | None = None) -> APIClient:
    """A signed-in user's client, or an anonymous one (sending ``token`` as a guest)."""
    if user is not None:
        return authenticate(APIClient(), user)
    client = APIClient()
    if token:
        client.credentials(HTTP_ORDER_TOKEN=token)
    return client


Caller = Callable[[World], APIClient]
CALLERS: dict[str, Caller] = {
    "anonymous": lambda w: _client(None),
    "guest with token": lambda w: _client(None, w.guest_token),
    "guest with another token": lambda w: _client(None, "not-the-token"),
    "customer (owner)": lambda w: _client(w.customer),
    "other customer": lambda w: _client(CustomerFactory().user),
    "vendor of the lines": lambda w: _client(w.vendor),
    "other vendor": lambda w: _client(VendorFactory().user),
    "partner": lambda w: _client(PartnerFactory().user),
    "admin": lambda w: _client(AdminFactory()),
}

CARD = {"method": "credit_card", "card_number": "4242424242424242"}


def _pay_customer_order(w: World, c: APIClient) -> Any:
    return c.post(f"/api/v1/orders/{w.customer_order.pk}/process-payment/", CARD, format="json")


def _pay_guest_order(w: World, c: APIClient) -> Any:
    return c.post(f"/api/v1/orders/{w.guest_order.pk}/process-payment/", CARD, format="json")


def _read_cash(w: World, c: APIClient) -> Any:
    return c.get(f"/api/v1/payments/{w.cash.pk}/")


def _confirm_cash(w: World, c: APIClient) -> Any:
    return c.post(f"/api/v1/payments/{w.cash.pk}/confirm/", {}, format="json")


ACTIONS = {
    "pay customer's order": (_pay_customer_order, {"customer (owner)": 202}),
    "pay guest's order": (_pay_guest_order, {"guest with token": 202}),
    "read a payment": (_read_cash, {"customer (owner)": 200, "admin": 200}),
    "confirm cash": (_confirm_cash, {"admin": 200}),
}
REFUSED = {
    # Not signed in and no order of its own: the order or payment does not exist for it.
    "pay customer's order": 404,
    "pay guest's order": 404,
    "read a payment": 404,
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", list(CALLERS))
def test_who_may_do_what(action: str, role: str) -> None:
    world = _world()
    call, allowed = ACTIONS[action]
    payments_before = Payment.objects.count()

    response = call(world, CALLERS[role](world))

    if role in allowed:
        assert response.status_code == allowed[role], response.content
        return
    assert response.status_code in (401, 403, 404), (role, response.status_code)
    if action in REFUSED and role in ("anonymous", "guest with another token", "other customer"):
        assert response.status_code == REFUSED[action]
    assert response.json()["code"] in ("not_authenticated", "permission_denied", "not_found")
    assert Payment.objects.count() == payments_before
    world.cash.refresh_from_db()
    assert world.cash.status == "initiated"
    assert Order.objects.get(pk=world.customer_order.pk).status == "pending"
    assert Order.objects.get(pk=world.guest_order.pk).status == "pending"
