"""services/ and services/{id}/: read, create, change and deactivate, per role, with exact
bodies; every refusal writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.catalog.models import Service
from tally.catalog.testing import service_make, variant_make
from tally.catalog.tests.bodies import client_for, service_body
from tally.identity.models import User, VendorProfile
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/services/"
NEW_SERVICE = {
    "title": "Brake repair",
    "description": "Pads, discs and fluid.",
    "category": "car-repair",
    "images": ["https://img.example.com/brakes.png"],
}
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def detail(service: Service) -> str:
    return f"{SERVICES}{service.pk}/"


def _snapshot() -> tuple[list[dict[str, Any]], int]:
    return list(Service.objects.order_by("id").values()), AuditEvent.objects.count()


# --- reads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["anonymous", "customer", "partner", "other_vendor", "vendor", "admin"]
)
def test_anyone_reads_a_service_on_sale(role: str, request: Any, vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=vendor, images=["https://img.example.com/a.png"])
    variant_make(service=service, price=900, stock=0)
    variant_make(service=service, price=1200)
    variant_make(service=service, price=100, is_active=False)
    # when
    response = client_for(role, request).get(detail(service))
    # then: its vendor and admins see the inactive variant too
    assert response.status_code == 200
    body = response.json()
    assert body == service_body(service, every_variant=role in ("vendor", "admin"))
    assert (body["min_price"], body["in_stock"]) == ("9.00", True)


@pytest.mark.parametrize(
    "hidden",
    [
        pytest.param({"service": {"is_active": False}}, id="inactive service"),
        pytest.param({"vendor": {"is_active": False}}, id="inactive vendor"),
        pytest.param({"variant": {"is_active": False}}, id="no active variant"),
    ],
)
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 404),
        ("customer", 404),
        ("partner", 404),
        ("other_vendor", 404),
        ("vendor", 200),
        ("admin", 200),
    ],
)
def test_a_service_not_on_sale_is_visible_to_its_vendor_and_admins_only(
    hidden: dict[str, dict[str, Any]], role: str, expected: int, request: Any, vendor: VendorProfile
) -> None:
    # given
    service = service_make(vendor=vendor, **hidden.get("service", {}))
    variant_make(service=service, **hidden.get("variant", {}))
    VendorProfile.objects.filter(pk=vendor.pk).update(**hidden.get("vendor", {}))
    # when
    response = client_for(role, request).get(detail(service))
    # then
    assert response.status_code == expected
    if expected == 404:
        assert response.json()["code"] == "not_found"
    else:
        assert response.json() == service_body(service, every_variant=True)


def test_an_unknown_service_is_not_found(api_client: APIClient) -> None:
    response = api_client.get(f"{SERVICES}{UNKNOWN}/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert response["Content-Type"] == "application/problem+json"


def test_a_malformed_id_is_not_found(api_client: APIClient) -> None:
    response = api_client.get(f"{SERVICES}not-a-uuid/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# --- create ------------------------------------------------------------------------------


def test_an_active_vendor_creates_a_service_audited(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # when
    response = vendor_client.post(SERVICES, NEW_SERVICE, format="json")
    # then
    assert response.status_code == 201
    service = Service.objects.get()
    assert response.json() == service_body(service, every_variant=True)
    assert (service.vendor_id, service.title, service.category, service.images) == (
        vendor.pk,
        "Brake repair",
        "car-repair",
        ["https://img.example.com/brakes.png"],
    )
    assert response.json()["min_price"] is None
    assert list(AuditEvent.objects.values_list("action", "actor")) == [
        ("service.created", vendor.pk)
    ]


def test_a_new_service_is_not_on_sale_before_it_has_a_variant(
    vendor_client: APIClient, api_client: APIClient
) -> None:
    # given
    created = vendor_client.post(SERVICES, NEW_SERVICE, format="json").json()
    # when
    public = api_client.get(f"{SERVICES}{created['id']}/")
    listed = api_client.get(SERVICES).json()["results"]
    # then
    assert public.status_code == 404
    assert listed == []


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("inactive_vendor", 422, "vendor_inactive"),
        ("customer", 403, "permission_denied"),
        ("partner", 403, "permission_denied"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_only_active_vendors_and_admins_create_services(
    role: str, expected: int, code: str, request: Any
) -> None:
    # when
    response = client_for(role, request).post(SERVICES, NEW_SERVICE, format="json")
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert _snapshot() == ([], 0)


def test_an_admin_creates_a_service_for_a_vendor(
    admin_client: APIClient, admin_user: User, vendor: VendorProfile
) -> None:
    # when
    response = admin_client.post(SERVICES, {**NEW_SERVICE, "vendor": str(vendor.pk)}, format="json")
    # then
    assert response.status_code == 201
    service = Service.objects.get()
    assert response.json() == service_body(service, every_variant=True)
    assert service.vendor_id == vendor.pk
    assert list(AuditEvent.objects.values_list("action", "actor")) == [
        ("service.created", admin_user.pk)
    ]


@pytest.mark.parametrize(
    ("vendor_field", "expected", "code"),
    [
        (None, 400, "validation_error"),
        ("inactive", 422, "vendor_inactive"),
        (UNKNOWN, 400, "validation_error"),
    ],
)
def test_an_admin_names_an_active_vendor(
    admin_client: APIClient,
    inactive_vendor: VendorProfile,
    vendor_field: str | None,
    expected: int,
    code: str,
) -> None:
    # given
    body = dict(NEW_SERVICE)
    if vendor_field is not None:
        body["vendor"] = str(inactive_vendor.pk) if vendor_field == "inactive" else vendor_field
    # when
    response = admin_client.post(SERVICES, body, format="json")
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert _snapshot() == ([], 0)


def test_a_vendor_cannot_create_a_service_for_another_vendor(
    vendor_client: APIClient, other_vendor: VendorProfile
) -> None:
    response = vendor_client.post(
        SERVICES, {**NEW_SERVICE, "vendor": str(other_vendor.pk)}, format="json"
    )
    # the same answer as for an unknown vendor: a vendor learns nothing about others
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert response.json()["errors"] == [
        {"field": "vendor", "code": "invalid", "detail": "No such vendor."}
    ]
    assert _snapshot() == ([], 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "x" * 100_000}, "title"),
        ({"title": None}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"description": "d" * 5001}, "description"),
        ({"category": "Car Repair"}, "category"),
        ({"category": "-car"}, "category"),
        ({"category": "c" * 65}, "category"),
        ({"images": ["not a url"]}, "images"),
        ({"images": ["javascript:alert(1)"]}, "images"),
        ({"images": ["ftp://example.com/a.png"]}, "images"),
        ({"images": ["https://example.com/" + "a" * 500]}, "images"),
        ({"images": [f"https://example.com/{n}.png" for n in range(11)]}, "images"),
        ({"images": "https://example.com/a.png"}, "images"),
        ({"is_active": "maybe"}, "is_active"),
        ({"vendor": "not-a-uuid"}, "vendor"),
    ],
)
def test_a_bad_service_is_refused_with_the_field_named(
    vendor_client: APIClient, change: dict[str, Any], field: str
) -> None:
    # when
    response = vendor_client.post(SERVICES, {**NEW_SERVICE, **change}, format="json")
    # then
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    # (a list item's errors name the list: "images", or "images.3" past the first item)
    assert [error["field"].split(".")[0] for error in body["errors"]] == [field]
    assert _snapshot() == ([], 0)


def test_a_body_that_is_not_json_is_a_malformed_request(vendor_client: APIClient) -> None:
    response = vendor_client.post(SERVICES, "{not json", content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "malformed_request")
    assert _snapshot() == ([], 0)


def test_ten_images_are_fine(vendor_client: APIClient) -> None:
    images = [f"https://img.example.com/{n}.png" for n in range(10)]
    response = vendor_client.post(SERVICES, {**NEW_SERVICE, "images": images}, format="json")
    assert response.status_code == 201
    assert Service.objects.get().images == images


def test_creating_twice_with_one_idempotency_key_creates_one_service(
    vendor_client: APIClient,
) -> None:
    # given
    first = vendor_client.post(SERVICES, NEW_SERVICE, format="json", HTTP_IDEMPOTENCY_KEY="svc-1")
    # when
    again = vendor_client.post(SERVICES, NEW_SERVICE, format="json", HTTP_IDEMPOTENCY_KEY="svc-1")
    # then
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert (Service.objects.count(), AuditEvent.objects.count()) == (1, 1)


# --- change ------------------------------------------------------------------------------


def test_the_vendor_changes_its_service_and_only_real_changes_are_audited(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # given
    service = service_make(vendor=vendor)
    variant_make(service=service)
    # when
    response = vendor_client.patch(
        detail(service),
        {"title": service.title, "category": "engines", "images": ["https://i.example.com/e.png"]},
        format="json",
    )
    # then
    assert response.status_code == 200
    assert response.json() == service_body(service, every_variant=True)
    service.refresh_from_db()
    assert (service.category, service.images) == ("engines", ["https://i.example.com/e.png"])
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.changes) == (
        "service.updated",
        vendor.pk,
        {"category": ["car-repair", "engines"], "images": [[], ["https://i.example.com/e.png"]]},
    )


def test_an_admin_changes_any_service(admin_client: APIClient, vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=vendor, is_active=False)
    # when
    response = admin_client.patch(detail(service), {"is_active": True}, format="json")
    # then
    assert response.status_code == 200
    assert response.json()["is_active"] is True
    assert AuditEvent.objects.get().changes == {"is_active": [False, True]}


@pytest.mark.parametrize(
    ("role", "on_sale", "expected", "code"),
    [
        ("other_vendor", True, 403, "permission_denied"),
        ("other_vendor", False, 404, "not_found"),
        ("inactive_vendor", True, 403, "permission_denied"),
        ("customer", True, 403, "permission_denied"),
        ("partner", True, 403, "permission_denied"),
        ("anonymous", True, 401, "not_authenticated"),
    ],
)
@pytest.mark.parametrize("method", ["patch", "delete"])
def test_only_the_owner_and_admins_change_or_deactivate_a_service(
    method: str,
    role: str,
    on_sale: bool,
    expected: int,
    code: str,
    request: Any,
    vendor: VendorProfile,
) -> None:
    # given: a service on sale is public (so 403 leaks nothing), one that is not is 404
    service = service_make(vendor=vendor, is_active=on_sale)
    variant_make(service=service)
    before = _snapshot()
    # when
    client = client_for(role, request)
    response = getattr(client, method)(detail(service), {"title": "Taken over"}, format="json")
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert _snapshot() == before


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_an_inactive_vendor_changes_nothing_of_its_own(
    method: str, inactive_vendor: VendorProfile, inactive_vendor_client: APIClient
) -> None:
    # given
    service = service_make(vendor=inactive_vendor)
    variant_make(service=service)
    before = _snapshot()
    # when
    response = getattr(inactive_vendor_client, method)(
        detail(service), {"title": "New"}, format="json"
    )
    # then
    assert (response.status_code, response.json()["code"]) == (422, "vendor_inactive")
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vendor": "00000000-0000-0000-0000-000000000001"}, "vendor"),
        ({"title": ""}, "title"),
        ({"category": "UPPER"}, "category"),
        ({"images": ["nope"]}, "images"),
    ],
)
def test_a_bad_change_is_refused_and_nothing_changes(
    vendor_client: APIClient, vendor: VendorProfile, change: dict[str, Any], field: str
) -> None:
    # given
    service = service_make(vendor=vendor)
    before = _snapshot()
    # when
    response = vendor_client.patch(detail(service), change, format="json")
    # then
    assert response.status_code == 400
    assert [error["field"].split(".")[0] for error in response.json()["errors"]] == [field]
    assert _snapshot() == before


def test_changing_an_unknown_service_is_not_found(admin_client: APIClient) -> None:
    response = admin_client.patch(f"{SERVICES}{UNKNOWN}/", {"title": "X"}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# --- deactivate --------------------------------------------------------------------------


def test_delete_deactivates_and_keeps_the_row(
    vendor_client: APIClient, vendor: VendorProfile, api_client: APIClient
) -> None:
    # given
    service = service_make(vendor=vendor)
    variant_make(service=service)
    # when
    first = vendor_client.delete(detail(service))
    again = vendor_client.delete(detail(service))
    # then
    assert (first.status_code, again.status_code) == (204, 204)
    service.refresh_from_db()
    assert service.is_active is False
    assert api_client.get(detail(service)).status_code == 404
    assert vendor_client.get(detail(service)).json()["is_active"] is False
    assert list(AuditEvent.objects.values_list("action", "changes")) == [
        ("service.deactivated", {"is_active": [True, False]})
    ]


def test_an_admin_deactivates_any_service(admin_client: APIClient) -> None:
    service = service_make()
    assert admin_client.delete(detail(service)).status_code == 204
    service.refresh_from_db()
    assert service.is_active is False
