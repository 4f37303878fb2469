"""Who may list, read, cancel and complete an order: one table, every role, and every
refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from rest_framework.test import APIClient

from tally.catalog.models import Variant
from tally.catalog.testing import service_make, variant_make
from tally.identity.models import CustomerProfile, User, VendorProfile
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)
from tally.identity.tests.fixtures import authenticate
from tally.orders.models import Order, OrderStatus
from tally.orders.testing import order_confirm_for_test, order_place_for_test
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"


@dataclass
class World:
    """Orders of a guest and of a customer, each with lines of one vendor; an order with
    lines of two vendors; one of a vendor deactivated since; and every kind of caller."""

    guest_order: Order
    guest_token: str
    other_guest_token: str
    customer: CustomerProfile
    other_customer: CustomerProfile
    customer_order: Order
    vendor: VendorProfile
    second_vendor: VendorProfile
    shared_order: Order
    outsider: VendorProfile
    inactive_vendor: VendorProfile
    inactive_vendor_order: Order
    partner: User
    admin: User
    variants: list[Variant]


def _variant(vendor: VendorProfile) -> Variant:
    return variant_make(service=service_make(vendor=vendor), price=10_00, stock=10)


def world_make() -> World:
    vendor = cast(VendorProfile, VendorFactory())
    second_vendor = cast(VendorProfile, VendorFactory())
    inactive_vendor = cast(VendorProfile, VendorFactory())
    tier, second_tier, inactive_tier = (
        _variant(vendor),
        _variant(second_vendor),
        _variant(inactive_vendor),
    )
    customer = cast(CustomerProfile, CustomerFactory())
    guest = order_place_for_test(lines=[(tier, 1)])
    other_guest = order_place_for_test(lines=[(tier, 1)], email="other@example.com")
    inactive_vendor_order = order_place_for_test(lines=[(inactive_tier, 1)]).order
    inactive_vendor.is_active = False
    inactive_vendor.save(update_fields=["is_active"])
    assert guest.access_token is not None
    assert other_guest.access_token is not None
    return World(
        guest_order=guest.order,
        guest_token=guest.access_token,
        other_guest_token=other_guest.access_token,
        customer=customer,
        other_customer=cast(CustomerProfile, CustomerFactory()),
        customer_order=order_place_for_test(customer=customer, lines=[(tier, 2)]).order,
        vendor=vendor,
        second_vendor=second_vendor,
        shared_order=order_place_for_test(
            customer=customer, lines=[(tier, 1), (second_tier, 1)]
        ).order,
        outsider=cast(VendorProfile, VendorFactory()),
        inactive_vendor=inactive_vendor,
        inactive_vendor_order=inactive_vendor_order,
        partner=cast(User, PartnerFactory().user),
        admin=cast(User, AdminFactory()),
        variants=[tier, second_tier, inactive_tier],
    )


@dataclass(frozen=True)
class Caller:
    """A caller, the order it aims at, and the token it sends (if any)."""

    client: APIClient
    order: Order
    token: str | None = None
    # The calling vendor, whose lines alone it may see.
    vendor: VendorProfile | None = None


def _signed_in(user: User) -> APIClient:
    return authenticate(APIClient(), user)


def _vendor(vendor: VendorProfile, order: Order) -> Caller:
    return Caller(_signed_in(vendor.user), order, vendor=vendor)


ROLES: dict[str, Callable[[World], Caller]] = {
    "anonymous": lambda w: Caller(APIClient(), w.guest_order),
    "guest with its token": lambda w: Caller(APIClient(), w.guest_order, w.guest_token),
    "guest with another order's token": lambda w: Caller(
        APIClient(), w.guest_order, w.other_guest_token
    ),
    "customer, own order": lambda w: Caller(_signed_in(w.customer.user), w.customer_order),
    "customer, another's order": lambda w: Caller(
        _signed_in(w.other_customer.user), w.customer_order
    ),
    "vendor of every line": lambda w: _vendor(w.vendor, w.customer_order),
    "vendor of some lines": lambda w: _vendor(w.second_vendor, w.shared_order),
    "vendor without lines": lambda w: _vendor(w.outsider, w.customer_order),
    "inactive vendor of every line": lambda w: _vendor(w.inactive_vendor, w.inactive_vendor_order),
    "partner": lambda w: Caller(_signed_in(w.partner), w.customer_order),
    "admin": lambda w: Caller(_signed_in(w.admin), w.customer_order),
}

# (status, code) per action and role; for "list", whether the order is in the page too.
TABLE: dict[str, dict[str, tuple[int, Any]]] = {
    "list": {
        "anonymous": (401, "not_authenticated"),
        "guest with its token": (401, "not_authenticated"),
        "guest with another order's token": (401, "not_authenticated"),
        "customer, own order": (200, True),
        "customer, another's order": (200, False),
        "vendor of every line": (200, True),
        "vendor of some lines": (200, True),
        "vendor without lines": (200, False),
        "inactive vendor of every line": (200, True),
        "partner": (403, "permission_denied"),
        "admin": (200, True),
    },
    "detail": {
        "anonymous": (404, "not_found"),
        "guest with its token": (200, None),
        "guest with another order's token": (404, "not_found"),
        "customer, own order": (200, None),
        "customer, another's order": (404, "not_found"),
        "vendor of every line": (200, None),
        "vendor of some lines": (200, None),
        "vendor without lines": (404, "not_found"),
        "inactive vendor of every line": (200, None),
        "partner": (404, "not_found"),
        "admin": (200, None),
    },
    "cancel": {
        "anonymous": (404, "not_found"),
        "guest with its token": (200, None),
        "guest with another order's token": (404, "not_found"),
        "customer, own order": (200, None),
        "customer, another's order": (404, "not_found"),
        "vendor of every line": (403, "permission_denied"),
        "vendor of some lines": (403, "permission_denied"),
        "vendor without lines": (404, "not_found"),
        "inactive vendor of every line": (403, "permission_denied"),
        "partner": (404, "not_found"),
        "admin": (200, None),
    },
    "complete": {
        "anonymous": (401, "not_authenticated"),
        "guest with its token": (401, "not_authenticated"),
        "guest with another order's token": (401, "not_authenticated"),
        "customer, own order": (403, "permission_denied"),
        "customer, another's order": (403, "permission_denied"),
        "vendor of every line": (200, None),
        "vendor of some lines": (403, "permission_denied"),
        "vendor without lines": (404, "not_found"),
        "inactive vendor of every line": (422, "vendor_inactive"),
        "partner": (403, "permission_denied"),
        "admin": (200, None),
    },
}
CASES = [
    pytest.param(
        action,
        role,
        status,
        detail,
        id=f"{action}-{role}",
    )
    for action, row in TABLE.items()
    for role, (status, detail) in row.items()
]
# What a successful action leaves the order in.
MOVED_TO = {"cancel": OrderStatus.CANCELLED, "complete": OrderStatus.COMPLETED}


def _request(action: str, caller: Caller) -> Any:
    headers = {"HTTP_ORDER_TOKEN": caller.token} if caller.token else {}
    order_url = f"{URL}{caller.order.pk}/"
    if action == "list":
        return caller.client.get(URL, **headers)
    if action == "detail":
        return caller.client.get(order_url, **headers)
    return caller.client.post(f"{order_url}{action}/", {}, format="json", **headers)


def _state(world: World) -> dict[str, Any]:
    orders = Order.objects.order_by("created_at", "id")
    return {
        "orders": list(orders.values_list("id", "status", "version")),
        "stock": [Variant.objects.get(pk=variant.pk).stock for variant in world.variants],
        "audit": AuditEvent.objects.count(),
    }


@pytest.mark.parametrize(("action", "role", "status", "detail"), CASES)
def test_who_may_do_what(action: str, role: str, status: int, detail: Any) -> None:
    # given: the world, its orders paid when the action is completing one
    world = world_make()
    if action == "complete":
        for order in Order.objects.all():
            order_confirm_for_test(order)
    caller = ROLES[role](world)
    before = _state(world)
    # when
    response = _request(action, caller)
    # then
    assert response.status_code == status, response.json()
    if status >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == detail
        assert _state(world) == before
        return
    body = response.json()
    if action == "list":
        listed = str(caller.order.pk) in [order["id"] for order in body["results"]]
        assert listed is detail
        return
    assert body["id"] == str(caller.order.pk)
    assert response["ETag"] == f'"{body["version"]}"'
    if action in MOVED_TO:
        caller.order.refresh_from_db()
        assert (body["status"], caller.order.status) == (MOVED_TO[action], MOVED_TO[action])
        assert body["version"] == caller.order.version
    # a vendor's view never shows the order's totals or another vendor's lines
    if caller.vendor is not None:
        assert (body["total"], body["subtotal"]) == (None, None)
        assert {item["vendor_id"] for item in body["items"]} == {str(caller.vendor.pk)}
