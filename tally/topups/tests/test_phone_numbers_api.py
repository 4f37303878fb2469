"""Phone number endpoints: contract, errors, conflicts and pagination."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.credit.testing import vendor_fund
from tally.identity.models import VendorProfile
from tally.platform.audit.models import AuditEvent
from tally.topups import services
from tally.topups.models import PhoneNumber
from tally.topups.tests.helpers import row_counts

pytestmark = pytest.mark.django_db

URL = "/api/v1/phone-numbers/"
NUMBER = "+14155550123"


def test_vendor_registers_a_number_in_any_notation(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # when
    response = vendor_client.post(URL, {"number": "415 555 0123", "label": "shop"}, format="json")
    # then
    assert response.status_code == 201, response.content
    phone = PhoneNumber.objects.get()
    assert response.json() == {
        "id": str(phone.id),
        "number": NUMBER,
        "label": "shop",
        "created_at": response.json()["created_at"],
    }
    assert phone.created_by_id == vendor.user_id
    assert vendor_client.get(f"{URL}{phone.id}/").json() == response.json()


def test_registering_a_registered_number_is_409(
    vendor_client: APIClient, admin_client: APIClient
) -> None:
    assert vendor_client.post(URL, {"number": NUMBER}, format="json").status_code == 201
    before = row_counts()
    response = admin_client.post(URL, {"number": "+1 (415) 555-0123"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "phone_number_taken"
    assert row_counts() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"number": ""},
        {"number": "123"},
        {"number": "+1555"},
        {"number": "not a number"},
        {"number": "9" * 40},
        {"number": None},
        {"number": NUMBER, "label": "x" * 101},
        {"number": NUMBER, "label": None},
    ],
)
def test_bad_input_is_400(vendor_client: APIClient, body: dict[str, Any]) -> None:
    response = vendor_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert not PhoneNumber.objects.exists()


def test_put_replaces_number_and_label(vendor_client: APIClient) -> None:
    created = vendor_client.post(URL, {"number": NUMBER, "label": "a"}, format="json").json()
    response = vendor_client.put(
        f"{URL}{created['id']}/", {"number": "4155550124", "label": "b"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["number"], response.json()["label"]) == ("+14155550124", "b")
    # PUT replaces: an omitted label is cleared
    response = vendor_client.put(f"{URL}{created['id']}/", {"number": "4155550124"}, format="json")
    assert response.json()["label"] == ""
    bad = vendor_client.put(f"{URL}{created['id']}/", {"number": "12"}, format="json")
    assert bad.status_code == 400


def test_a_number_with_sales_cannot_be_deleted_or_renumbered(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # given
    vendor_fund(vendor, 1_00)
    sale = services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=1_00).sale
    detail = f"{URL}{sale.phone_number_id}/"
    before = row_counts()
    # when / then
    deleted = vendor_client.delete(detail)
    assert (deleted.status_code, deleted.json()["code"]) == (409, "conflict")
    renumbered = vendor_client.put(detail, {"number": "+14155550124"}, format="json")
    assert (renumbered.status_code, renumbered.json()["code"]) == (409, "conflict")
    assert row_counts() == before
    # relabelling is fine
    relabelled = vendor_client.put(detail, {"number": NUMBER, "label": "kiosk"}, format="json")
    assert relabelled.status_code == 200


def test_delete_of_an_unused_number_is_204_and_audited(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    created = vendor_client.post(URL, {"number": NUMBER}, format="json").json()
    assert vendor_client.delete(f"{URL}{created['id']}/").status_code == 204
    assert not PhoneNumber.objects.exists()
    assert AuditEvent.objects.filter(action="phone_number.deleted", actor=vendor.user).exists()
    assert vendor_client.delete(f"{URL}{created['id']}/").status_code == 404


def test_list_is_newest_first_in_non_overlapping_cursor_pages(vendor_client: APIClient) -> None:
    ids = [
        vendor_client.post(URL, {"number": f"+1415555{n:04d}"}, format="json").json()["id"]
        for n in range(150, 155)
    ]
    first = vendor_client.get(f"{URL}?page_size=2").json()
    second = vendor_client.get(first["next"]).json()
    third = vendor_client.get(second["next"]).json()
    listed = [item["id"] for page in (first, second, third) for item in page["results"]]
    assert listed == ids[::-1]
    assert third["next"] is None
