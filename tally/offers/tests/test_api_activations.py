"""``POST activations/`` and ``GET activations/{id}/``: 202 + Location, the status resource,
per role, and every refusal writing nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.identity.models import CustomerProfile
from tally.identity.tests.factories import CustomerFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.models import Transfer
from tally.ledger.testing import assert_ledger_verifies
from tally.offers.models import Activation, ActivationStatus, Offer, Subscription
from tally.offers.provider_simulator import ProviderSimulator
from tally.offers.services import activation_create
from tally.offers.testing import (
    activation_wait_final,
    customer_fund,
    offer_make,
    subscription_make,
    wallet_position,
)
from tally.platform.audit.models import AuditEvent
from tally.platform.money import from_minor
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.openapi import assert_documented

pytestmark = pytest.mark.django_db

URL = "/api/v1/activations/"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def activation_body(activation: Activation) -> dict[str, Any]:
    activation.refresh_from_db()
    return {
        "id": str(activation.pk),
        "reference": activation.reference,
        "status": activation.status,
        "source": activation.source,
        "customer_id": str(activation.customer_id),
        "offer_id": str(activation.offer_id),
        "subscription_id": str(activation.subscription_id),
        "amount": from_minor(activation.amount),
        "currency": activation.offer.currency,
        "provider_reference": activation.provider_reference,
        "failure_code": activation.failure_code,
        "failure_detail": activation.failure_detail,
        "created_at": _iso(activation.created_at),
        "completed_at": _iso(activation.completed_at),
    }


def rows() -> dict[str, int]:
    return {
        "activations": Activation.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "transfers": Transfer.objects.count(),
        "jobs": OutboxMessage.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def customer_with_client(funds: int = 0) -> tuple[CustomerProfile, APIClient]:
    customer = CustomerFactory()
    if funds:
        customer_fund(customer, funds)
    return customer, authenticate(APIClient(), customer.user)


# --- buying -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_customer_buys_an_offer_and_follows_it_to_success(
    celery_worker: Any, provider: ProviderSimulator
) -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    offer = offer_make(price=500, validity_days=30)
    # when
    response = client.post(URL, {"offer": str(offer.pk)})
    # then: accepted, with the status resource in Location
    assert response.status_code == 202
    activation = Activation.objects.get()
    assert response["Location"] == f"/api/v1/activations/{activation.pk}/"
    accepted = response.json()
    assert accepted["status"] in ("pending", "processing")
    assert {k: v for k, v in accepted.items() if k != "status"} == {
        "id": str(activation.pk),
        "reference": activation.reference,
        "source": "customer",
        "customer_id": str(customer.pk),
        "offer_id": str(offer.pk),
        "subscription_id": str(activation.subscription_id),
        "amount": "5.00",
        "currency": "USD",
        "provider_reference": "",
        "failure_code": "",
        "failure_detail": "",
        "created_at": _iso(activation.created_at),
        "completed_at": None,
    }
    # then: the status resource reaches succeeded; the wallet paid once
    activation_wait_final(activation)
    final = client.get(response["Location"])
    assert final.status_code == 200
    assert final.json() == activation_body(activation)
    assert final.json()["status"] == "succeeded"
    assert client.get("/api/v1/account/balance/").json() == {
        "balance": "15.00",
        "pending": "0.00",
        "available": "15.00",
        "currency": "USD",
    }
    statement = client.get("/api/v1/account/transactions/").json()["results"]
    assert [(e["code"], e["amount"], e["reference"]) for e in statement] == [
        ("offer_activation", "-5.00", str(activation.pk)),
        ("test_funding", "20.00", ""),
    ]
    assert_ledger_verifies()


def test_the_price_is_reserved_when_the_activation_is_accepted() -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    offer = offer_make(price=500)
    # when
    response = client.post(URL, {"offer": str(offer.pk)})
    # then
    assert response.status_code == 202
    activation = Activation.objects.get()
    assert response.json() == activation_body(activation)
    assert activation.status == ActivationStatus.PENDING
    assert wallet_position(customer) == (2000, 500, 1500)
    assert OutboxMessage.objects.count() == 1


def test_buying_with_an_idempotency_key_twice_buys_once() -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    offer = offer_make(price=500)
    first = client.post(URL, {"offer": str(offer.pk)}, HTTP_IDEMPOTENCY_KEY="buy-1")
    # when
    again = client.post(URL, {"offer": str(offer.pk)}, HTTP_IDEMPOTENCY_KEY="buy-1")
    # then
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert Activation.objects.count() == 1
    assert wallet_position(customer) == (2000, 500, 1500)


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("admin", 403, "permission_denied"),
        ("vendor", 403, "permission_denied"),
        ("partner", 403, "permission_denied"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_only_customers_buy(role: str, expected: int, code: str, request: Any) -> None:
    # given
    offer = offer_make()
    client = APIClient() if role == "anonymous" else request.getfixturevalue(f"{role}_client")
    before = rows()
    # when
    response = client.post(URL, {"offer": str(offer.pk)})
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert rows() == before


@pytest.mark.parametrize(
    ("offer_fields", "expected", "code"),
    [
        ({"is_active": False}, 422, "offer_unavailable"),
        ({"currency": "EUR"}, 422, "offer_currency_mismatch"),
        ({"price": 2001}, 422, "insufficient_funds"),
    ],
)
def test_a_purchase_the_rules_refuse_writes_nothing(
    offer_fields: dict[str, Any], expected: int, code: str
) -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    offer = offer_make(**{"price": 500, **offer_fields})
    before = rows()
    # when
    response = client.post(URL, {"offer": str(offer.pk)})
    # then
    assert response.status_code == expected
    assert response["Content-Type"] == "application/problem+json"
    assert (response.json()["status"], response.json()["code"]) == (expected, code)
    assert rows() == before
    assert wallet_position(customer) == (2000, 0, 2000)


@pytest.mark.parametrize(
    ("body", "expected", "code"),
    [
        ({"offer": "00000000-0000-0000-0000-000000000000"}, 404, "not_found"),
        ({"offer": "not-a-uuid"}, 400, "validation_error"),
        ({}, 400, "validation_error"),
    ],
)
def test_an_unknown_or_malformed_offer_writes_nothing(
    body: dict[str, Any], expected: int, code: str
) -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    offer_make()
    before = rows()
    # when
    response = client.post(URL, body)
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert rows() == before
    assert wallet_position(customer) == (2000, 0, 2000)


def test_the_unknown_offer_answer_is_in_the_published_schema() -> None:
    # given
    _, client = customer_with_client(funds=2000)
    # when
    response = client.post(URL, {"offer": "00000000-0000-0000-0000-000000000000"})
    # then
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert_documented(response, method="POST", path=URL)


# --- the status resource ------------------------------------------------------------------


def _bought(customer: CustomerProfile, offer: Offer | None = None) -> Activation:
    customer_fund(customer, 1000)
    return activation_create(customer=customer, offer=offer or offer_make())


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", 200),
        ("admin", 200),
        ("other customer", 404),
        ("vendor", 403),
        ("partner", 403),
        ("anonymous", 401),
    ],
)
def test_who_sees_an_activation(role: str, expected: int, request: Any) -> None:
    # given
    owner, owner_client = customer_with_client()
    activation = _bought(owner)
    clients: dict[str, Callable[[], APIClient]] = {
        "owner": lambda: owner_client,
        "other customer": lambda: customer_with_client()[1],
        "anonymous": APIClient,
    }
    client = clients.get(role, lambda: request.getfixturevalue(f"{role}_client"))()
    # when
    response = client.get(f"{URL}{activation.pk}/")
    # then
    assert response.status_code == expected
    if expected == 200:
        assert response.json() == activation_body(activation)
    else:
        assert (
            response.json()["code"]
            == {
                404: "not_found",
                403: "permission_denied",
                401: "not_authenticated",
            }[expected]
        )


def test_an_unknown_activation_is_not_found() -> None:
    _, client = customer_with_client()
    response = client.get(f"{URL}00000000-0000-0000-0000-000000000000/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_an_activation_in_flight_is_answered_from_redis() -> None:
    # given: an accepted activation (its live status written when it committed)
    customer, client = customer_with_client()
    activation = _bought(customer)
    # when: the database row changes behind the live status' back
    Activation.objects.filter(pk=activation.pk).update(provider_reference="database only")
    response = client.get(f"{URL}{activation.pk}/")
    # then: what Redis holds is served while the activation is in flight
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["provider_reference"] == ""


@pytest.mark.parametrize("path", ["activations", "renew"])
def test_purchases_and_renewals_count_against_the_money_rate_limit(
    path: str, settings: Any
) -> None:
    # given: a budget of one money request a minute (other classes unlimited)
    settings.TALLY_RATE_LIMITS = {"money": "1/min", "write": "off", "read": "off"}
    customer, client = customer_with_client(funds=2000)
    offer = offer_make(price=500)
    subscription = subscription_make(customer, offer)
    url, body = (
        (URL, {"offer": str(offer.pk)})
        if path == "activations"
        else ("/api/v1/offers/renew/", {"subscription": str(subscription.pk)})
    )
    assert client.post(url, body).status_code == 202
    before = rows()
    # when
    response = client.post(url, body)
    # then
    assert (response.status_code, response.json()["code"]) == (429, "rate_limited")
    assert response["RateLimit-Limit"] == "1"
    assert "Retry-After" in response
    assert rows() == before
    assert wallet_position(customer) == (2000, 500, 1500)
