"""Customer endpoints for every role: exact statuses, exact bodies (what each role may see of
a customer) and that a refused request writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tally.identity.models import CustomerProfile, User
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)
from tally.identity.tests.fixtures import authenticate
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"
ROLES = (
    "admin",
    "vendor",  # created ``ada``
    "other_vendor",  # active, created nobody
    "inactive_vendor",  # created ``eve`` while it was active
    "customer",
    "partner",
    "anonymous",
)
ADA_PHONE = "+14155550101"  # created by ``vendor``
GRACE_PHONE = "+14155550102"  # signed up on her own
EVE_PHONE = "+14155550103"  # created by ``inactive_vendor``
NEW_PHONE = "+14155550199"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class World:
    ada: CustomerProfile
    grace: CustomerProfile
    eve: CustomerProfile
    users: dict[str, Any]  # role -> User (factory-built), None for anonymous

    def client(self, role: str) -> APIClient:
        user = self.users[role]
        return APIClient() if user is None else authenticate(APIClient(), user)


@pytest.fixture
def world() -> World:
    vendor, other_vendor = VendorFactory(), VendorFactory()
    inactive_vendor = VendorFactory(inactive=True)
    ada = CustomerFactory(
        phone=ADA_PHONE,
        created_by=vendor.user,
        user__email="ada@example.com",
        user__full_name="Ada Lovelace",
    )
    grace = CustomerFactory(
        phone=GRACE_PHONE, user__email="grace@example.com", user__full_name="Grace Brewster Hopper"
    )
    eve = CustomerFactory(
        phone=EVE_PHONE,
        created_by=inactive_vendor.user,
        user__email="eve@example.com",
        user__full_name="Eve",
    )
    return World(
        ada=ada,
        grace=grace,
        eve=eve,
        users={
            "admin": AdminFactory(),
            "vendor": vendor.user,
            "other_vendor": other_vendor.user,
            "inactive_vendor": inactive_vendor.user,
            "customer": grace.user,
            "partner": PartnerFactory().user,
            "anonymous": None,
        },
    )


def full(customer: CustomerProfile, masked_name: str) -> dict[str, Any]:
    return {
        "id": str(customer.user_id),
        "details_visible": True,
        "masked_name": masked_name,
        "email": customer.user.email,
        "full_name": customer.user.full_name,
        "phone": customer.phone,
        "created_at": customer.created_at.isoformat().replace("+00:00", "Z"),
    }


def masked(customer: CustomerProfile, masked_name: str) -> dict[str, Any]:
    return {"id": str(customer.user_id), "details_visible": False, "masked_name": masked_name}


def counts() -> tuple[int, int, int]:
    return User.objects.count(), CustomerProfile.objects.count(), AuditEvent.objects.count()


# --- statuses per role ------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: Callable[[World], str]
    body: dict[str, Any] | None
    statuses: tuple[int, ...]  # in ROLES order


NEW_CUSTOMER = {"email": "new@example.com", "phone": NEW_PHONE, "full_name": "New Person"}
ENDPOINTS = {
    "list": Endpoint("get", lambda w: URL, None, (200, 200, 200, 200, 403, 403, 401)),
    "find-by-phone": Endpoint(
        "get", lambda w: f"{URL}?phone={ADA_PHONE}", None, (200, 200, 200, 200, 403, 403, 401)
    ),
    "create": Endpoint("post", lambda w: URL, NEW_CUSTOMER, (201, 201, 201, 422, 403, 403, 401)),
    "detail-created-by-vendor": Endpoint(
        "get", lambda w: f"{URL}{w.ada.user_id}/", None, (200, 200, 404, 404, 403, 403, 401)
    ),
    "detail-self-registered": Endpoint(
        "get", lambda w: f"{URL}{w.grace.user_id}/", None, (200, 404, 404, 404, 403, 403, 401)
    ),
    "detail-unknown": Endpoint(
        "get", lambda w: f"{URL}{UNKNOWN_ID}/", None, (404, 404, 404, 404, 403, 403, 401)
    ),
}
CODES = {
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    422: "vendor_inactive",
}
CASES = [
    pytest.param(name, role, endpoint.statuses[index], id=f"{name}-{role}")
    for name, endpoint in ENDPOINTS.items()
    for index, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("endpoint_name", "role", "expected"), CASES)
def test_each_role_gets_exactly_its_status_and_a_refusal_writes_nothing(
    world: World, endpoint_name: str, role: str, expected: int
) -> None:
    # given
    endpoint = ENDPOINTS[endpoint_name]
    before = counts()
    # when
    response = getattr(world.client(role), endpoint.method)(
        endpoint.url(world), endpoint.body, format="json"
    )
    # then
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == CODES[expected]
        assert counts() == before


# --- what each role sees ----------------------------------------------------------------


def results(client: APIClient, url: str) -> list[dict[str, Any]]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def test_an_admin_sees_every_customer_with_details(world: World) -> None:
    # when
    listed = results(world.client("admin"), URL)
    detail = world.client("admin").get(f"{URL}{world.grace.user_id}/").json()
    # then: newest first
    assert listed == [
        full(world.eve, "E***"),
        full(world.grace, "G*** B*** H***"),
        full(world.ada, "A*** L***"),
    ]
    assert detail == full(world.grace, "G*** B*** H***")


def test_the_creating_vendor_sees_its_customers_details(world: World) -> None:
    # when
    client = world.client("vendor")
    listed = results(client, URL)
    found = results(client, f"{URL}?phone=(415) 555-0101")
    detail = client.get(f"{URL}{world.ada.user_id}/").json()
    # then
    assert listed == [full(world.ada, "A*** L***")]
    assert found == [full(world.ada, "A*** L***")]
    assert detail == full(world.ada, "A*** L***")


def test_another_active_vendor_finds_a_customer_by_phone_with_only_id_and_masked_name(
    world: World,
) -> None:
    # when
    client = world.client("other_vendor")
    listed = results(client, URL)
    ada = results(client, f"{URL}?phone={ADA_PHONE}")
    grace = results(client, f"{URL}?phone={GRACE_PHONE}")
    # then: never the email, the phone, the full name or the creation time
    assert listed == []
    assert ada == [masked(world.ada, "A*** L***")]
    assert grace == [masked(world.grace, "G*** B*** H***")]
    # and the same vendor cannot read either by id: 404 exactly as for an unknown id
    by_id = client.get(f"{URL}{world.ada.user_id}/")
    unknown = client.get(f"{URL}{UNKNOWN_ID}/")
    assert by_id.status_code == unknown.status_code == 404
    assert {k: v for k, v in by_id.json().items() if k != "instance"} == {
        k: v for k, v in unknown.json().items() if k != "instance"
    }


def test_the_creating_vendor_sees_its_customer_masked_nowhere(world: World) -> None:
    # given: the creating vendor's own customer found by phone by both vendors
    own = results(world.client("vendor"), f"{URL}?phone={ADA_PHONE}")
    other = results(world.client("other_vendor"), f"{URL}?phone={ADA_PHONE}")
    # then
    assert own[0]["details_visible"] is True
    assert other[0]["details_visible"] is False
    assert set(other[0]) == {"id", "details_visible", "masked_name"}


def test_an_inactive_vendor_reads_its_own_customers_but_finds_no_one_else(world: World) -> None:
    # when
    client = world.client("inactive_vendor")
    listed = results(client, URL)
    own = results(client, f"{URL}?phone={EVE_PHONE}")
    others = results(client, f"{URL}?phone={ADA_PHONE}")
    detail = client.get(f"{URL}{world.eve.user_id}/")
    # then
    assert listed == [full(world.eve, "E***")]
    assert own == [full(world.eve, "E***")]
    assert others == []
    assert detail.json() == full(world.eve, "E***")


def test_an_unknown_number_finds_nobody_and_a_malformed_one_is_400(world: World) -> None:
    # when
    client = world.client("other_vendor")
    unknown = results(client, f"{URL}?phone=+14155550177")
    malformed = client.get(f"{URL}?phone=12")
    # then
    assert unknown == []
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "validation_error"
    assert [error["field"] for error in malformed.json()["errors"]] == ["phone"]


# --- creating customers -----------------------------------------------------------------


def test_an_active_vendor_creates_a_customer_it_then_sees_in_full(world: World) -> None:
    # given
    client = world.client("other_vendor")
    # when
    response = client.post(URL, NEW_CUSTOMER, format="json")
    # then
    assert response.status_code == 201, response.content
    customer = CustomerProfile.objects.select_related("user").get(phone=NEW_PHONE)
    assert customer.created_by_id == world.users["other_vendor"].id
    assert response.json() == full(customer, "N*** P***")
    assert results(client, URL) == [full(customer, "N*** P***")]
    event = AuditEvent.objects.get(action="customer.created")
    assert (event.actor_id, event.target_id) == (customer.created_by_id, str(customer.user_id))
    # and the vendor that did not create it cannot read it by id
    assert world.client("vendor").get(f"{URL}{customer.user_id}/").status_code == 404


def test_an_inactive_vendor_claims_no_email_and_no_number(world: World) -> None:
    # given
    before = counts()
    # when
    response = world.client("inactive_vendor").post(URL, NEW_CUSTOMER, format="json")
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "vendor_inactive"
    assert response.json()["detail"] == (
        "This vendor account is not active yet; an admin must activate it."
    )
    assert counts() == before
    assert not User.objects.filter(email="new@example.com").exists()
    # and the owner of the number can still sign up with it
    signed_up = APIClient().post(
        "/api/v1/auth/register/",
        {**NEW_CUSTOMER, "password": "correct-horse-battery", "role": "customer"},
        format="json",
    )
    assert signed_up.status_code == 201


def test_the_schema_marks_the_details_optional_and_the_summary_required() -> None:
    # when
    schema = Client().get("/api/schema/?format=json").json()
    # then
    customer = schema["components"]["schemas"]["CustomerOutput"]
    assert sorted(customer["required"]) == ["details_visible", "id", "masked_name"]
    assert set(customer["properties"]) == {
        "id",
        "details_visible",
        "masked_name",
        "email",
        "full_name",
        "phone",
        "created_at",
    }
