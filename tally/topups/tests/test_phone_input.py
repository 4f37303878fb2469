"""Phone numbers are text in a common notation: anything else is a field error, never a
number quietly read into something else."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.identity.models import CustomerProfile
from tally.topups.models import PhoneNumber

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"
PHONE_NUMBERS = "/api/v1/phone-numbers/"

LOOSE_PHONES = {
    "a JSON integer": 14155550123,
    "a JSON float": 14155550123.0,
    "a JSON list": ["+14155550123"],
    "an emoji": "+1 415 555 0123 📞",
    "a trailing NUL": "+14155550123\x00",
    "a control character": "+1415555\x070123",
    "over 32 characters": "+1 (415) 555-0123" + " " * 16,
    "an extension": "+1 415 555 0123 ext. 4567",
    "a short extension": "+1 415 555 0123 x45",
    "an extension after a comma": "+14155550123,45",
    "letters": "+1 415 FLOWERS",
}


def field_errors(response: Any) -> list[str]:
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    return [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize("phone", LOOSE_PHONES.values(), ids=LOOSE_PHONES.keys())
def test_a_customer_with_a_loose_phone_is_refused(vendor_client: APIClient, phone: Any) -> None:
    # when
    response = vendor_client.post(
        CUSTOMERS, {"email": "new@example.com", "phone": phone}, format="json"
    )
    # then
    assert field_errors(response) == ["phone"]
    assert not CustomerProfile.objects.exists()


@pytest.mark.parametrize("phone", LOOSE_PHONES.values(), ids=LOOSE_PHONES.keys())
def test_a_loose_phone_number_is_not_registered(vendor_client: APIClient, phone: Any) -> None:
    # when
    response = vendor_client.post(PHONE_NUMBERS, {"number": phone}, format="json")
    # then
    assert field_errors(response) == ["number"]
    assert not PhoneNumber.objects.exists()


@pytest.mark.parametrize(
    "phone",
    ["+14155550123", "415 555 0123", "(415) 555-0123", "+1.415.555.0123", "+1 415 555 0123"],
)
def test_common_notations_are_still_accepted(vendor_client: APIClient, phone: str) -> None:
    response = vendor_client.post(PHONE_NUMBERS, {"number": phone}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["number"] == "+14155550123"


def test_a_phone_filter_with_an_extension_is_refused(vendor_client: APIClient) -> None:
    response = vendor_client.get(CUSTOMERS, {"phone": "+14155550123 ext 1"})
    assert field_errors(response) == ["phone"]
