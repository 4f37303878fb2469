"""Every topups endpoint, for every role: the exact status, and reads that show only own data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.credit.testing import vendor_fund
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)
from tally.identity.tests.fixtures import authenticate
from tally.topups import services
from tally.topups.models import PhoneNumber
from tally.topups.tests.factories import PhoneNumberFactory
from tally.topups.tests.helpers import row_counts

pytestmark = pytest.mark.django_db

ROLES = ("admin", "vendor", "other_vendor", "inactive_vendor", "customer", "partner", "anonymous")
OWN_NUMBER = "+14155550123"
INACTIVE_NUMBER = "+14155550124"


@dataclass(frozen=True)
class World:
    vendor: VendorProfile
    other_vendor: VendorProfile
    phone: PhoneNumber  # registered by ``vendor``, nothing sold to it
    inactive_phone: PhoneNumber  # registered by ``inactive_vendor`` while it was active
    users: dict[str, Any]  # role -> User (factory-built), None for anonymous

    def client(self, role: str) -> APIClient:
        user = self.users[role]
        return APIClient() if user is None else authenticate(APIClient(), user)


@pytest.fixture
def world() -> World:
    vendor = VendorFactory()
    other_vendor = VendorFactory()
    inactive_vendor = VendorFactory(inactive=True)
    vendor_fund(vendor, 100_00)
    phone = services.phone_number_create(actor=vendor.user, number=OWN_NUMBER, label="shop")
    inactive_phone = PhoneNumberFactory(number=INACTIVE_NUMBER, created_by=inactive_vendor.user)
    return World(
        vendor=vendor,
        other_vendor=other_vendor,
        phone=phone,
        inactive_phone=inactive_phone,
        users={
            "admin": AdminFactory(),
            "vendor": vendor.user,
            "other_vendor": other_vendor.user,
            "inactive_vendor": inactive_vendor.user,
            "customer": CustomerFactory().user,
            "partner": PartnerFactory().user,
            "anonymous": None,
        },
    )


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: Callable[[World], str]
    body: dict[str, Any] | None
    # Expected status per role, in ROLES order.
    statuses: tuple[int, ...]


ENDPOINTS = {
    "sell": Endpoint(
        "post",
        lambda w: f"/api/v1/vendors/{w.vendor.user_id}/charges/",
        {"phone_number": "+14155550150", "amount": "5.00"},
        (403, 201, 404, 404, 403, 403, 401),
    ),
    "vendor-charges": Endpoint(
        "get",
        lambda w: f"/api/v1/vendors/{w.vendor.user_id}/charges/",
        None,
        (200, 200, 404, 404, 403, 403, 401),
    ),
    "charge-sales": Endpoint(
        "get", lambda w: "/api/v1/charge-sales/", None, (200, 403, 403, 403, 403, 403, 401)
    ),
    "phone-number-list": Endpoint(
        "get", lambda w: "/api/v1/phone-numbers/", None, (200, 200, 200, 200, 403, 403, 401)
    ),
    "phone-number-create": Endpoint(
        "post",
        lambda w: "/api/v1/phone-numbers/",
        {"number": "+14155550160", "label": "new"},
        (201, 201, 201, 422, 403, 403, 401),
    ),
    "phone-number-detail": Endpoint(
        "get",
        lambda w: f"/api/v1/phone-numbers/{w.phone.id}/",
        None,
        (200, 200, 404, 404, 403, 403, 401),
    ),
    "phone-number-update": Endpoint(
        "put",
        lambda w: f"/api/v1/phone-numbers/{w.phone.id}/",
        {"number": OWN_NUMBER, "label": "renamed"},
        (200, 200, 404, 404, 403, 403, 401),
    ),
    "phone-number-delete": Endpoint(
        "delete",
        lambda w: f"/api/v1/phone-numbers/{w.phone.id}/",
        None,
        (204, 204, 404, 404, 403, 403, 401),
    ),
    "inactive-number-detail": Endpoint(
        "get",
        lambda w: f"/api/v1/phone-numbers/{w.inactive_phone.id}/",
        None,
        (200, 404, 404, 200, 403, 403, 401),
    ),
    "inactive-number-update": Endpoint(
        "put",
        lambda w: f"/api/v1/phone-numbers/{w.inactive_phone.id}/",
        {"number": INACTIVE_NUMBER, "label": "renamed"},
        (200, 404, 404, 422, 403, 403, 401),
    ),
    "inactive-number-delete": Endpoint(
        "delete",
        lambda w: f"/api/v1/phone-numbers/{w.inactive_phone.id}/",
        None,
        (204, 404, 404, 422, 403, 403, 401),
    ),
}

CASES = [
    pytest.param(name, role, endpoint.statuses[index], id=f"{name}-{role}")
    for name, endpoint in ENDPOINTS.items()
    for index, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("endpoint_name", "role", "expected"), CASES)
def test_endpoint_answers_each_role_exactly(
    world: World, endpoint_name: str, role: str, expected: int
) -> None:
    # given
    endpoint = ENDPOINTS[endpoint_name]
    before = row_counts()
    # when
    response = getattr(world.client(role), endpoint.method)(
        endpoint.url(world), endpoint.body, format="json"
    )
    # then
    assert response.status_code == expected, response.content
    if expected >= 400:
        codes = {
            401: "not_authenticated",
            403: "permission_denied",
            404: "not_found",
            422: "vendor_inactive",
        }
        assert response.json()["code"] == codes[expected]
        assert row_counts() == before  # a refused request writes nothing
        assert PhoneNumber.objects.get(pk=world.inactive_phone.pk).label == ""


def _listed(client: APIClient, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    return {item["id"] for item in response.json()["results"]}


def test_vendors_see_the_numbers_they_registered_or_sold_to(world: World) -> None:
    # given: the other vendor sells to the vendor's number and registers one of its own;
    # an admin registers a third number nobody sells to
    vendor_fund(world.other_vendor, 10_00)
    services.charge_sale_create(
        vendor=world.other_vendor, phone_number=OWN_NUMBER, amount_minor=1_00
    )
    others = services.phone_number_create(actor=world.other_vendor.user, number="+14155550170")
    admins = services.phone_number_create(actor=world.users["admin"], number="+14155550171")
    url = "/api/v1/phone-numbers/"
    # then
    assert _listed(world.client("vendor"), url) == {str(world.phone.id)}
    assert _listed(world.client("other_vendor"), url) == {str(world.phone.id), str(others.id)}
    assert _listed(world.client("admin"), url) == {
        str(world.phone.id),
        str(others.id),
        str(admins.id),
        str(world.inactive_phone.id),
    }
    # the other vendor reads the number it sold to, without the registrant's note, and
    # only the registrant changes it
    detail = f"{url}{world.phone.id}/"
    other = world.client("other_vendor")
    seen = other.get(detail).json()
    assert seen == {
        "id": str(world.phone.id),
        "number": OWN_NUMBER,
        "label": "",
        "created_at": seen["created_at"],
    }
    assert [n["label"] for n in other.get(url).json()["results"] if n["number"] == OWN_NUMBER] == [
        ""
    ]
    assert world.client("vendor").get(detail).json()["label"] == "shop"
    assert world.client("admin").get(detail).json()["label"] == "shop"
    before = row_counts()
    put = other.put(detail, {"number": OWN_NUMBER, "label": "mine"}, format="json")
    assert (put.status_code, put.json()["code"]) == (403, "permission_denied")
    deleted = other.delete(detail)
    assert (deleted.status_code, deleted.json()["code"]) == (403, "permission_denied")
    assert PhoneNumber.objects.get(pk=world.phone.pk).label == "shop"
    assert row_counts() == before
    # and nobody but an admin sees a number it has no link to
    assert world.client("vendor").get(f"{url}{admins.id}/").status_code == 404


def test_vendors_read_only_their_own_sales(world: World) -> None:
    # given
    vendor_fund(world.other_vendor, 10_00)
    mine = services.charge_sale_create(
        vendor=world.vendor, phone_number=OWN_NUMBER, amount_minor=1_00
    ).sale
    theirs = services.charge_sale_create(
        vendor=world.other_vendor, phone_number=OWN_NUMBER, amount_minor=1_00
    ).sale
    # then
    own_url = f"/api/v1/vendors/{world.vendor.user_id}/charges/"
    other_url = f"/api/v1/vendors/{world.other_vendor.user_id}/charges/"
    assert _listed(world.client("vendor"), own_url) == {str(mine.id)}
    assert _listed(world.client("other_vendor"), other_url) == {str(theirs.id)}
    assert _listed(world.client("admin"), "/api/v1/charge-sales/") == {
        str(mine.id),
        str(theirs.id),
    }
