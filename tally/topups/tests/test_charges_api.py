"""Charge sale endpoints: contract, bad input, errors, histories and idempotent replay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.credit.testing import vendor_fund, vendor_prepaid_balance
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.topups import services
from tally.topups.models import ChargeSale
from tally.topups.tests.helpers import row_counts

pytestmark = pytest.mark.django_db

NUMBER = "+14155550123"


def charges_url(vendor: VendorProfile) -> str:
    return f"/api/v1/vendors/{vendor.user_id}/charges/"


def sell(client: APIClient, vendor: VendorProfile, body: Any, **headers: str) -> Any:
    return client.generic(
        "POST",
        charges_url(vendor),
        json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    return body


def test_vendor_sells_a_charge(vendor_client: APIClient, vendor: VendorProfile) -> None:
    # given
    vendor_fund(vendor, 500_00)
    # when: any common notation of the number is accepted
    response = sell(vendor_client, vendor, {"phone_number": "(415) 555-0123", "amount": "50.00"})
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    sale = ChargeSale.objects.get()
    assert body == {
        "id": str(sale.id),
        "vendor": str(vendor.user_id),
        "phone_number": NUMBER,
        "amount": "50.00",
        "remaining_credit": "450.00",
        "transfer": str(sale.transfer_id),
        "created_at": body["created_at"],
    }
    assert vendor_prepaid_balance(vendor) == 450_00


def test_json_numbers_with_two_places_are_exact(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    vendor_fund(vendor, 1_00)
    response = sell(vendor_client, vendor, {"phone_number": NUMBER, "amount": 0.29})
    assert response.status_code == 201
    assert response.json()["amount"] == "0.29"
    assert ChargeSale.objects.get().amount == 29


@pytest.mark.parametrize(
    "amount",
    [
        "-1",
        "-0.01",
        "0",
        "0.00",
        0,
        "0.001",
        "1e3",
        "abc",
        "",
        " ",
        None,
        10**20,
        "100000000000.01",
        "NaN",
        "Infinity",
        "-Infinity",
        True,
        [],
        {},
        "1,00",
        "0x10",
        "1" * 40,
        0.1 + 0.2,
    ],
)
def test_bad_amounts_are_400_and_change_nothing(
    vendor_client: APIClient, vendor: VendorProfile, amount: Any
) -> None:
    # given
    vendor_fund(vendor, 10_00)
    before = row_counts()
    # when
    response = sell(vendor_client, vendor, {"phone_number": NUMBER, "amount": amount})
    # then
    body = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["amount"]
    assert row_counts() == before
    assert vendor_prepaid_balance(vendor) == 10_00


@pytest.mark.parametrize(
    "phone_number",
    ["", " ", "123", "+1555", "not a number", "1" * 40, "+" + "9" * 39, None, [], {}],
)
def test_bad_phone_numbers_are_400_and_change_nothing(
    vendor_client: APIClient, vendor: VendorProfile, phone_number: Any
) -> None:
    vendor_fund(vendor, 10_00)
    before = row_counts()
    response = sell(vendor_client, vendor, {"phone_number": phone_number, "amount": "1.00"})
    body = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["phone_number"]
    assert row_counts() == before


@pytest.mark.parametrize("body", [{}, {"amount": "1.00"}, {"phone_number": NUMBER}, [], "x"])
def test_missing_fields_or_a_non_object_body_are_400(
    vendor_client: APIClient, vendor: VendorProfile, body: Any
) -> None:
    before = row_counts()
    response = sell(vendor_client, vendor, body)
    assert_problem(response, 400, "validation_error")
    assert row_counts() == before


def test_malformed_json_is_400(vendor_client: APIClient, vendor: VendorProfile) -> None:
    response = vendor_client.generic(
        "POST", charges_url(vendor), "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
    assert not ChargeSale.objects.exists()


def test_insufficient_credit_is_422_and_changes_nothing(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    vendor_fund(vendor, 10_00)
    before = row_counts()
    response = sell(vendor_client, vendor, {"phone_number": NUMBER, "amount": "10.01"})
    assert_problem(response, 422, "insufficient_funds")
    assert row_counts() == before
    assert vendor_prepaid_balance(vendor) == 10_00


def test_inactive_vendor_is_422_vendor_inactive(inactive_vendor: VendorProfile) -> None:
    vendor_fund(inactive_vendor, 10_00)
    before = row_counts()
    client = authenticate(APIClient(), inactive_vendor.user)
    response = sell(client, inactive_vendor, {"phone_number": NUMBER, "amount": "1.00"})
    assert_problem(response, 422, "vendor_inactive")
    assert row_counts() == before


def test_unknown_and_other_vendors_ids_are_404(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    other = VendorFactory()
    vendor_fund(other, 10_00)
    before = row_counts()
    unknown = f"/api/v1/vendors/{'0' * 8}-0000-4000-8000-{'0' * 12}/charges/"
    body = {"phone_number": NUMBER, "amount": "1.00"}
    assert_problem(vendor_client.post(unknown, body, format="json"), 404, "not_found")
    assert_problem(sell(vendor_client, other, body), 404, "not_found")
    assert vendor_client.post("/api/v1/vendors/nope/charges/", body).status_code == 404
    assert row_counts() == before


def test_missing_or_bad_credentials_are_401(api_client: APIClient, vendor: VendorProfile) -> None:
    body = {"phone_number": NUMBER, "amount": "1.00"}
    assert_problem(sell(api_client, vendor, body), 401, "not_authenticated")
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_problem(sell(api_client, vendor, body), 401, "not_authenticated")
    assert not ChargeSale.objects.exists()


def test_replayed_sale_with_an_idempotency_key_sells_once(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # given
    vendor_fund(vendor, 10_00)
    body = {"phone_number": NUMBER, "amount": "3.00"}
    first = sell(vendor_client, vendor, body, **{"Idempotency-Key": "sale-1"})
    # when
    again = sell(vendor_client, vendor, body, **{"Idempotency-Key": "sale-1"})
    # then
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ChargeSale.objects.count() == 1
    assert vendor_prepaid_balance(vendor) == 7_00
    # and the same key with another body is refused, changing nothing
    before = row_counts()
    other = sell(vendor_client, vendor, {**body, "amount": "4.00"}, **{"Idempotency-Key": "sale-1"})
    assert_problem(other, 422, "idempotency_key_reused")
    assert row_counts() == before
    assert vendor_prepaid_balance(vendor) == 7_00


# --- histories --------------------------------------------------------------------------


def _sell_directly(vendor: VendorProfile, count: int, number: str = NUMBER) -> list[str]:
    """Make ``count`` sales of 1.00 through the service; their ids, oldest first."""
    return [
        str(
            services.charge_sale_create(
                vendor=vendor, phone_number=number, amount_minor=1_00
            ).sale.id
        )
        for _ in range(count)
    ]


def _walk(client: APIClient, url: str) -> list[list[str]]:
    """Every page's ids, following ``next`` to the end."""
    pages: list[list[str]] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"results", "next", "previous"}
        pages.append([sale["id"] for sale in body["results"]])
        next_url = body["next"]
    return pages


def test_vendor_history_is_newest_first_in_non_overlapping_cursor_pages(
    vendor_client: APIClient, admin_client: APIClient, vendor: VendorProfile
) -> None:
    # given: seven sales of the vendor, and one of another vendor
    vendor_fund(vendor, 100_00)
    ids = _sell_directly(vendor, 7)
    other = VendorFactory()
    vendor_fund(other, 1_00)
    _sell_directly(other, 1)
    # when
    pages = _walk(vendor_client, f"{charges_url(vendor)}?page_size=3")
    # then
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [sale_id for page in pages for sale_id in page] == ids[::-1]
    # and an admin reads the same history
    assert _walk(admin_client, f"{charges_url(vendor)}?page_size=50") == [ids[::-1]]


def test_history_items_have_the_sale_shape(vendor_client: APIClient, vendor: VendorProfile) -> None:
    vendor_fund(vendor, 5_00)
    sale = services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=2_50).sale
    item = vendor_client.get(charges_url(vendor)).json()["results"][0]
    assert item == {
        "id": str(sale.id),
        "vendor": str(vendor.user_id),
        "phone_number": NUMBER,
        "amount": "2.50",
        "transfer": str(sale.transfer_id),
        "created_at": item["created_at"],
    }


def test_a_mangled_cursor_is_400(vendor_client: APIClient, vendor: VendorProfile) -> None:
    response = vendor_client.get(f"{charges_url(vendor)}?cursor=garbage")
    assert_problem(response, 400, "validation_error")


def test_admin_cross_vendor_history_filters_by_vendor_and_number(
    admin_client: APIClient, vendor: VendorProfile
) -> None:
    # given: two vendors selling to two numbers
    other = VendorFactory()
    vendor_fund(vendor, 100_00)
    vendor_fund(other, 100_00)
    a1 = _sell_directly(vendor, 2, NUMBER)
    b1 = _sell_directly(other, 1, NUMBER)
    a2 = _sell_directly(vendor, 1, "+14155550124")
    b2 = _sell_directly(other, 2, "+14155550124")
    everything = (a1 + b1 + a2 + b2)[::-1]
    url = "/api/v1/charge-sales/"
    # when / then: no filter, newest first across vendors, in pages
    pages = _walk(admin_client, f"{url}?page_size=4")
    assert [len(page) for page in pages] == [4, 2]
    assert [sale_id for page in pages for sale_id in page] == everything
    # by vendor
    assert _walk(admin_client, f"{url}?vendor={vendor.user_id}") == [(a1 + a2)[::-1]]
    # by number, written any common way (normalised to E.164 before matching)
    assert _walk(admin_client, f"{url}?phone_number=415-555-0123") == [(a1 + b1)[::-1]]
    assert _walk(admin_client, f"{url}?phone_number=%2B14155550124&vendor={other.user_id}") == [
        b2[::-1]
    ]
    # an unknown vendor matches nothing
    assert _walk(admin_client, f"{url}?vendor={'0' * 8}-0000-4000-8000-{'0' * 12}") == [[]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("vendor=not-a-uuid", "vendor"),
        ("phone_number=123", "phone_number"),
        ("phone_number=not+a+number", "phone_number"),
        (f"phone_number={'9' * 40}", "phone_number"),
    ],
)
def test_invalid_filters_are_400(admin_client: APIClient, query: str, field: str) -> None:
    response = admin_client.get(f"/api/v1/charge-sales/?{query}")
    body = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == [field]
