"""services/{id}/variants/ and services/{id}/variants/{variant_id}/: read, add, change and
deactivate, per role, with exact bodies; every refusal writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.catalog.models import Service, Variant
from tally.catalog.stock import StockLine, stock_give_back_fast, stock_take_fast
from tally.catalog.stock_counter import stock_counter_peek
from tally.catalog.testing import service_make, variant_make
from tally.catalog.tests.bodies import client_for, variant_body
from tally.identity.models import User, VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW_VARIANT = {"name": "Premium", "sku": "BR-PREM", "price": "120.50", "stock": 4}
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def variants_url(service: Service) -> str:
    return f"/api/v1/services/{service.pk}/variants/"


def variant_url(variant: Variant, service: Service | None = None) -> str:
    return f"/api/v1/services/{(service or variant.service).pk}/variants/{variant.pk}/"


def _snapshot() -> tuple[list[dict[str, Any]], int]:
    return list(Variant.objects.order_by("id").values()), AuditEvent.objects.count()


@pytest.fixture
def service(vendor: VendorProfile) -> Service:
    """The vendor's service on sale, with one active variant."""
    service = service_make(vendor=vendor, title="Brake repair")
    variant_make(service=service, price=5000, sku="BR-BASIC", name="Basic")
    return service


# --- reads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["anonymous", "customer", "partner", "other_vendor", "vendor", "admin"]
)
def test_anyone_lists_the_variants_on_sale_cheapest_first(
    role: str, request: Any, service: Service
) -> None:
    # given
    dear = variant_make(service=service, price=9000, stock=2)
    retired = variant_make(service=service, price=100, is_active=False)
    basic = service.variants.get(sku="BR-BASIC")
    # when
    response = client_for(role, request).get(variants_url(service))
    # then: its vendor and admins see the inactive one too
    assert response.status_code == 200
    manages = role in ("vendor", "admin")
    expected = [retired, basic, dear] if manages else [basic, dear]
    assert response.json() == {
        "results": [variant_body(v) for v in expected],
        "next": None,
        "previous": None,
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 404), ("customer", 404), ("other_vendor", 404), ("vendor", 200), ("admin", 200)],
)
def test_an_inactive_variant_is_visible_to_its_vendor_and_admins_only(
    role: str, expected: int, request: Any, service: Service
) -> None:
    # given
    retired = variant_make(service=service, is_active=False)
    # when
    response = client_for(role, request).get(variant_url(retired))
    # then
    assert response.status_code == expected
    if expected == 200:
        assert response.json() == variant_body(retired)


def test_a_variant_is_read_under_its_own_service_only(
    api_client: APIClient, service: Service
) -> None:
    # given
    variant = service.variants.get()
    elsewhere = service_make()
    variant_make(service=elsewhere)
    # when
    right = api_client.get(variant_url(variant))
    wrong = api_client.get(variant_url(variant, service=elsewhere))
    unknown = api_client.get(f"{variants_url(service)}{UNKNOWN}/")
    # then
    assert right.json() == variant_body(variant)
    assert (wrong.status_code, wrong.json()["code"]) == (404, "not_found")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_the_variants_of_a_service_not_on_sale_are_hidden_like_the_service(
    api_client: APIClient, vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # given
    hidden = service_make(vendor=vendor, is_active=False)
    variant = variant_make(service=hidden)
    # when / then
    assert api_client.get(variants_url(hidden)).status_code == 404
    assert api_client.get(variant_url(variant)).status_code == 404
    assert vendor_client.get(variant_url(variant)).json() == variant_body(variant)


# --- create ------------------------------------------------------------------------------


def test_the_vendor_adds_a_variant_audited(
    vendor_client: APIClient, vendor: VendorProfile, service: Service, settings: Any
) -> None:
    # when
    response = vendor_client.post(variants_url(service), NEW_VARIANT, format="json")
    # then
    assert response.status_code == 201
    variant = Variant.objects.get(sku="BR-PREM")
    assert response.json() == variant_body(variant)
    assert (variant.price, variant.currency, variant.stock, variant.is_active) == (
        12050,
        settings.TALLY_CURRENCY,
        4,
        True,
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.target_id) == (
        "variant.created",
        vendor.pk,
        str(variant.pk),
    )


def test_a_variant_may_be_unlimited_and_priced_in_another_currency(
    vendor_client: APIClient, service: Service
) -> None:
    # when
    response = vendor_client.post(
        variants_url(service),
        {"name": "Any", "sku": "ANY", "price": 15, "currency": "EUR", "stock": None},
        format="json",
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["price"], body["currency"], body["stock"], body["in_stock"]) == (
        "15.00",
        "EUR",
        None,
        True,
    )


def test_a_sku_taken_in_the_service_is_a_conflict(
    vendor_client: APIClient, service: Service
) -> None:
    # given
    before = _snapshot()
    # when
    response = vendor_client.post(
        variants_url(service), {**NEW_VARIANT, "sku": "BR-BASIC"}, format="json"
    )
    # then
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["sku"]) == ("sku_taken", "BR-BASIC")
    assert _snapshot() == before


def test_an_admin_adds_a_variant_to_any_service(
    admin_client: APIClient, admin_user: User, service: Service
) -> None:
    response = admin_client.post(variants_url(service), NEW_VARIANT, format="json")
    assert response.status_code == 201
    assert AuditEvent.objects.get().actor_id == admin_user.pk


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("other_vendor", 403, "permission_denied"),
        ("customer", 403, "permission_denied"),
        ("partner", 403, "permission_denied"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_only_the_owner_and_admins_add_variants(
    role: str, expected: int, code: str, request: Any, service: Service
) -> None:
    # given
    before = _snapshot()
    # when
    response = client_for(role, request).post(variants_url(service), NEW_VARIANT, format="json")
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert _snapshot() == before


def test_an_inactive_vendor_adds_no_variant_to_its_own_service(
    inactive_vendor: VendorProfile, inactive_vendor_client: APIClient
) -> None:
    # given
    service = service_make(vendor=inactive_vendor)
    # when
    response = inactive_vendor_client.post(variants_url(service), NEW_VARIANT, format="json")
    # then
    assert (response.status_code, response.json()["code"]) == (422, "vendor_inactive")
    assert _snapshot() == ([], 0)


def test_another_vendor_cannot_add_to_a_service_it_cannot_see(
    other_vendor_client: APIClient, vendor: VendorProfile
) -> None:
    hidden = service_make(vendor=vendor, is_active=False)
    response = other_vendor_client.post(variants_url(hidden), NEW_VARIANT, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert _snapshot() == ([], 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-1.00"}, "price"),
        ({"price": "0"}, "price"),
        ({"price": "0.00"}, "price"),
        ({"price": "1.234"}, "price"),
        ({"price": "1e3"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": 0.1 + 0.2}, "price"),
        ({"price": "100000000000.01"}, "price"),
        ({"price": "9" * 10_000}, "price"),
        ({"price": None}, "price"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "JPY"}, "currency"),
        ({"stock": -1}, "stock"),
        ({"stock": 2**31}, "stock"),
        ({"stock": "many"}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"sku": "has space"}, "sku"),
        ({"sku": "s" * 65}, "sku"),
        ({"sku": ""}, "sku"),
        ({"name": "n" * 121}, "name"),
        ({"name": "n" * 100_000}, "name"),
        ({"is_active": "perhaps"}, "is_active"),
    ],
)
def test_a_bad_variant_is_refused_with_the_field_named(
    vendor_client: APIClient, service: Service, change: dict[str, Any], field: str
) -> None:
    # given
    before = _snapshot()
    # when
    response = vendor_client.post(variants_url(service), {**NEW_VARIANT, **change}, format="json")
    # then
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == [field]
    assert _snapshot() == before


def test_a_variant_without_its_required_fields_names_each_one(
    vendor_client: APIClient, service: Service
) -> None:
    response = vendor_client.post(variants_url(service), {}, format="json")
    assert response.status_code == 400
    assert sorted(error["field"] for error in response.json()["errors"]) == [
        "name",
        "price",
        "sku",
    ]


# --- change ------------------------------------------------------------------------------


def test_the_vendor_changes_a_variant_and_only_real_changes_are_audited(
    vendor_client: APIClient, vendor: VendorProfile, service: Service
) -> None:
    # given
    variant = service.variants.get()
    # when
    response = vendor_client.patch(
        variant_url(variant),
        {"price": "55.00", "stock": 7, "name": variant.name},
        format="json",
    )
    # then
    assert response.status_code == 200
    assert response.json() == variant_body(variant)
    assert (variant.price, variant.stock) == (5500, 7)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.changes) == (
        "variant.updated",
        vendor.pk,
        {"price": [5000, 5500], "stock": [None, 7]},
    )


def test_stock_is_set_not_added_to(vendor_client: APIClient, service: Service) -> None:
    # given
    variant = variant_make(service=service, stock=10)
    # when
    vendor_client.patch(variant_url(variant), {"stock": 3}, format="json")
    unlimited = vendor_client.patch(variant_url(variant), {"stock": None}, format="json")
    # then
    assert unlimited.json()["stock"] is None
    variant.refresh_from_db()
    assert variant.stock is None
    assert [e.changes for e in AuditEvent.objects.order_by("id")] == [
        {"stock": [10, 3]},
        {"stock": [3, None]},
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "EUR"}, "currency"),
        ({"price": "-1"}, "price"),
        ({"price": "0"}, "price"),
        ({"stock": -3}, "stock"),
        ({"sku": None}, "sku"),
    ],
)
def test_a_bad_change_is_refused_and_nothing_changes(
    vendor_client: APIClient, service: Service, change: dict[str, Any], field: str
) -> None:
    # given
    variant = service.variants.get()
    before = _snapshot()
    # when
    response = vendor_client.patch(variant_url(variant), change, format="json")
    # then
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert _snapshot() == before


def test_renaming_the_sku_to_a_taken_one_is_a_conflict(
    vendor_client: APIClient, service: Service
) -> None:
    # given
    second = variant_make(service=service, sku="BR-2")
    before = _snapshot()
    # when
    response = vendor_client.patch(variant_url(second), {"sku": "BR-BASIC"}, format="json")
    # then
    assert (response.status_code, response.json()["code"]) == (409, "sku_taken")
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("other_vendor", 403, "permission_denied"),
        ("inactive_vendor", 403, "permission_denied"),
        ("customer", 403, "permission_denied"),
        ("partner", 403, "permission_denied"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
@pytest.mark.parametrize("method", ["patch", "delete"])
def test_only_the_owner_and_admins_change_or_deactivate_variants(
    method: str, role: str, expected: int, code: str, request: Any, service: Service
) -> None:
    # given
    variant = service.variants.get()
    before = _snapshot()
    # when
    response = getattr(client_for(role, request), method)(
        variant_url(variant), {"price": "1.00"}, format="json"
    )
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert _snapshot() == before


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_an_inactive_owner_changes_no_variant(
    method: str, inactive_vendor: VendorProfile, inactive_vendor_client: APIClient
) -> None:
    # given
    variant = variant_make(service=service_make(vendor=inactive_vendor), stock=5)
    before = _snapshot()
    # when
    response = getattr(inactive_vendor_client, method)(
        variant_url(variant), {"stock": 50}, format="json"
    )
    # then
    assert (response.status_code, response.json()["code"]) == (422, "vendor_inactive")
    assert _snapshot() == before


def test_an_admin_changes_any_variant(admin_client: APIClient, service: Service) -> None:
    variant = service.variants.get()
    response = admin_client.patch(variant_url(variant), {"is_active": False}, format="json")
    assert (response.status_code, response.json()["is_active"]) == (200, False)


# --- deactivate --------------------------------------------------------------------------


def test_delete_deactivates_a_variant_and_keeps_the_row(
    vendor_client: APIClient, api_client: APIClient, service: Service
) -> None:
    # given
    variant = variant_make(service=service, price=100)
    # when
    first = vendor_client.delete(variant_url(variant))
    again = vendor_client.delete(variant_url(variant))
    # then
    assert (first.status_code, again.status_code) == (204, 204)
    variant.refresh_from_db()
    assert variant.is_active is False
    assert api_client.get(variant_url(variant)).status_code == 404
    assert api_client.get(f"/api/v1/services/{service.pk}/").json()["min_price"] == "50.00"
    assert list(AuditEvent.objects.values_list("action", "changes")) == [
        ("variant.deactivated", {"is_active": [True, False]})
    ]


def test_deactivating_the_last_variant_takes_the_service_off_sale(
    vendor_client: APIClient, api_client: APIClient, service: Service
) -> None:
    vendor_client.delete(variant_url(service.variants.get()))
    assert api_client.get(f"/api/v1/services/{service.pk}/").status_code == 404
    assert api_client.get("/api/v1/services/").json()["results"] == []


# --- the stock counter -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_stock_change_through_the_api_drops_the_redis_counter() -> None:
    # given: an order built the variant's counter
    vendor = VendorFactory()
    variant = variant_make(service=service_make(vendor=vendor), stock=5)
    line = StockLine(variant_id=variant.pk, quantity=1)
    stock_give_back_fast(lines=stock_take_fast(lines=[line]))
    assert stock_counter_peek(variant_id=variant.pk) == 5
    client = authenticate(APIClient(), vendor.user)
    # when
    response = client.patch(variant_url(variant), {"stock": 1}, format="json")
    # then
    assert response.status_code == 200
    assert stock_counter_peek(variant_id=variant.pk) is None
    stock_give_back_fast(lines=stock_take_fast(lines=[line]))
    assert stock_counter_peek(variant_id=variant.pk) == 1
