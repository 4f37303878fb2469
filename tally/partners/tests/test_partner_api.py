"""The partner endpoints: POST partner/activations/ and GET partner/validate/{reference}/
(contract, idempotency on the partner's reference, bad input, permissions per role)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from rest_framework.test import APIClient

from tally.identity.models import CustomerProfile, PartnerProfile
from tally.identity.services import api_key_create
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)
from tally.identity.tests.fixtures import authenticate
from tally.ledger.models import Transfer
from tally.ledger.testing import assert_ledger_verifies
from tally.offers.models import Activation, ActivationSource, Offer, Subscription
from tally.offers.testing import customer_fund, offer_make, wallet_position
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.openapi import assert_documented

URL = "/api/v1/partner/activations/"
PRICE = 500

pytestmark = pytest.mark.django_db


def _partner() -> PartnerProfile:
    return cast(PartnerProfile, PartnerFactory())


def _key_client(partner: PartnerProfile) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {api_key_create(user=partner.user, name='till').key}"
    )
    return client


def _customer(funds: int = 1000) -> CustomerProfile:
    customer = cast(CustomerProfile, CustomerFactory())
    if funds:
        customer_fund(customer, funds)
    return customer


def _rows() -> tuple[int, int, int, int]:
    return (
        Activation.objects.count(),
        Subscription.objects.count(),
        Transfer.objects.count(),
        OutboxMessage.objects.count(),
    )


def _body(customer: CustomerProfile, offer: Offer, reference: str = "order-1001") -> dict[str, Any]:
    return {"customer_phone": customer.phone, "offer": str(offer.id), "reference": reference}


def test_a_partner_buys_an_offer_for_a_customer_by_phone_with_an_api_key() -> None:
    # given
    partner = _partner()
    customer = _customer()
    offer = offer_make(price=PRICE)
    # when
    response = _key_client(partner).post(URL, _body(customer, offer), format="json")
    # then
    assert response.status_code == 202, response.json()
    activation = Activation.objects.get()
    assert response["Location"] == "/api/v1/partner/validate/order-1001/"
    assert response.json() == {
        "id": str(activation.id),
        "reference": activation.reference,
        "partner_reference": "order-1001",
        "status": "pending",
        "customer": str(customer.pk),
        "offer": str(offer.id),
        "subscription": {
            "id": str(activation.subscription_id),
            "status": "pending",
            "expires_at": None,
        },
        "amount": "5.00",
        "currency": "USD",
        "failure_code": "",
        "failure_detail": "",
        "created_at": response.json()["created_at"],
        "completed_at": None,
    }
    assert (activation.source, activation.partner_id) == (ActivationSource.PARTNER, partner.pk)
    assert wallet_position(customer) == (1000, PRICE, 1000 - PRICE)
    assert_ledger_verifies()


def test_a_partner_buys_by_customer_id_with_a_jwt() -> None:
    # given
    partner = _partner()
    customer = _customer()
    offer = offer_make(price=PRICE)
    client = authenticate(APIClient(), partner.user)
    # when
    response = client.post(
        URL,
        {"customer": str(customer.pk), "offer": str(offer.id), "reference": "A.b_c-9"},
        format="json",
    )
    # then
    assert response.status_code == 202, response.json()
    assert response.json()["partner_reference"] == "A.b_c-9"
    assert response.json()["customer"] == str(customer.pk)
    assert wallet_position(customer) == (1000, PRICE, 1000 - PRICE)


def test_the_same_reference_and_body_again_returns_the_first_activation() -> None:
    # given
    partner = _partner()
    customer = _customer()
    offer = offer_make(price=PRICE)
    client = _key_client(partner)
    first = client.post(URL, _body(customer, offer), format="json")
    rows = _rows()
    # when
    again = client.post(URL, _body(customer, offer), format="json")
    # then
    assert first.status_code == 202
    assert again.status_code == 202
    assert again.json() == first.json()
    assert _rows() == rows
    assert wallet_position(customer) == (1000, PRICE, 1000 - PRICE)


def test_the_same_reference_for_another_offer_is_refused() -> None:
    # given
    partner = _partner()
    customer = _customer()
    client = _key_client(partner)
    client.post(URL, _body(customer, offer_make(price=PRICE)), format="json")
    rows = _rows()
    # when
    response = client.post(URL, _body(customer, offer_make(price=200)), format="json")
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "partner_reference_reused"
    assert _rows() == rows
    assert wallet_position(customer) == (1000, PRICE, 1000 - PRICE)


def test_two_partners_may_use_the_same_reference() -> None:
    # given
    customer = _customer()
    offer = offer_make(price=PRICE)
    _key_client(_partner()).post(URL, _body(customer, offer), format="json")
    # when
    response = _key_client(_partner()).post(URL, _body(customer, offer), format="json")
    # then
    assert response.status_code == 202
    assert Activation.objects.filter(partner_reference="order-1001").count() == 2
    assert wallet_position(customer) == (1000, 2 * PRICE, 1000 - 2 * PRICE)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"reference": "x" * 65}, 400, "partner_reference_invalid"),
        ({"reference": ""}, 400, "partner_reference_invalid"),
        ({"reference": "order 1001"}, 400, "partner_reference_invalid"),
        ({"reference": "order/1001"}, 400, "partner_reference_invalid"),
        ({"reference": "ordér"}, 400, "partner_reference_invalid"),
        ({"customer_phone": "4155550123"}, 400, "customer_phone_invalid"),
        ({"customer_phone": "+1 415 555 0123"}, 400, "customer_phone_invalid"),
        ({"customer_phone": "+1415555"}, 400, "customer_phone_invalid"),
        ({"customer_phone": ""}, 400, "customer_phone_invalid"),
        ({"customer_phone": "+19999999999"}, 400, "customer_phone_invalid"),
        ({"customer_phone": "+14155559999"}, 404, "not_found"),
        ({"customer_phone": None}, 400, "customer_required"),
        ({"customer": "c0ffee00-0000-4000-8000-000000000000"}, 400, "customer_required"),
        ({"offer": "c0ffee00-0000-4000-8000-000000000000"}, 404, "not_found"),
        ({"offer": "not-a-uuid"}, 400, "validation_error"),
    ],
)
def test_bad_input_is_refused_with_its_own_code_and_nothing_written(
    change: dict[str, Any], status: int, code: str
) -> None:
    # given
    partner = _partner()
    customer = _customer()
    offer = offer_make(price=PRICE)
    body = {**_body(customer, offer), **change}
    body = {name: value for name, value in body.items() if value is not None}
    rows = _rows()
    # when
    response = _key_client(partner).post(URL, body, format="json")
    # then
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert_documented(response, method="POST", path=URL)
    assert _rows() == rows
    assert wallet_position(customer) == (1000, 0, 1000)


def test_a_customer_whose_wallet_does_not_cover_the_price_is_refused() -> None:
    # given
    partner = _partner()
    customer = _customer(funds=PRICE - 1)
    offer = offer_make(price=PRICE)
    rows = _rows()
    # when
    response = _key_client(partner).post(URL, _body(customer, offer), format="json")
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    assert _rows() == rows
    assert wallet_position(customer) == (PRICE - 1, 0, PRICE - 1)


def test_an_inactive_offer_is_refused() -> None:
    # given
    partner = _partner()
    customer = _customer()
    offer = offer_make(price=PRICE, is_active=False)
    rows = _rows()
    # when
    response = _key_client(partner).post(URL, _body(customer, offer), format="json")
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "offer_unavailable"
    assert _rows() == rows
    assert wallet_position(customer) == (1000, 0, 1000)


def test_validate_answers_the_partners_own_activation_by_its_reference() -> None:
    # given
    partner = _partner()
    client = _key_client(partner)
    created = client.post(URL, _body(_customer(), offer_make(price=PRICE)), format="json")
    # when
    response = client.get("/api/v1/partner/validate/order-1001/")
    # then
    assert response.status_code == 200
    assert response.json() == created.json()


def test_validate_hides_another_partners_reference_and_unknown_ones() -> None:
    # given
    owner = _partner()
    _key_client(owner).post(URL, _body(_customer(), offer_make(price=PRICE)), format="json")
    other = _key_client(_partner())
    # when
    foreign = other.get("/api/v1/partner/validate/order-1001/")
    unknown = _key_client(owner).get("/api/v1/partner/validate/order-9999/")
    # then
    assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize("role", ["admin", "vendor", "customer"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("post", URL), ("get", "/api/v1/partner/validate/order-1001/")],
)
def test_only_partners_may_call_the_partner_endpoints(role: str, method: str, path: str) -> None:
    # given
    partner = _partner()
    customer = _customer()
    offer = offer_make(price=PRICE)
    _key_client(partner).post(URL, _body(customer, offer), format="json")
    user = {
        "admin": lambda: AdminFactory(),
        "vendor": lambda: VendorFactory().user,
        "customer": lambda: customer.user,
    }[role]()
    rows = _rows()
    # when
    response = getattr(authenticate(APIClient(), user), method)(
        path, _body(customer, offer, reference="order-2002"), format="json"
    )
    # then
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert _rows() == rows


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", URL), ("get", "/api/v1/partner/validate/order-1001/")],
)
def test_the_partner_endpoints_need_credentials(method: str, path: str) -> None:
    # given
    rows = _rows()
    # when
    response = getattr(APIClient(), method)(path, {}, format="json")
    # then
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert _rows() == rows
