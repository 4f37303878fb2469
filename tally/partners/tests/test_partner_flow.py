"""A partner's activation end to end against a running Celery worker, the provider
simulator and the partner's callback endpoint (both real local HTTP servers): the same
reference sent concurrently buys once, and the finished activation is called back signed."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tally.identity.models import CustomerProfile, PartnerProfile
from tally.identity.services import api_key_create
from tally.identity.tests.factories import CustomerFactory, PartnerFactory
from tally.ledger.models import Transfer
from tally.ledger.testing import assert_ledger_verifies
from tally.offers.ledger_vocabulary import OFFER_ACTIVATION
from tally.offers.models import Activation, ActivationStatus
from tally.offers.provider_simulator import provider_simulator_run
from tally.offers.testing import customer_fund, offer_make, wallet_position
from tally.partners.models import CallbackAttempt
from tally.partners.testing import partner_server_run, signature_valid
from tally.platform.testing.race import run_concurrently

URL = "/api/v1/partner/activations/"
SECRET = "partner-signing-secret"
PRICE = 500

pytestmark = pytest.mark.django_db(transaction=True)


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.mark.timeout(120)
def test_the_same_reference_sent_ten_times_at_once_buys_once_and_is_called_back_signed(
    celery_worker: Any, settings: Settings
) -> None:
    # given
    with (
        provider_simulator_run(latency_ms=0, failure_rate=0) as provider,
        partner_server_run() as server,
    ):
        settings.OFFERS_PROVIDER_URL = provider.url
        partner = cast(
            PartnerProfile, PartnerFactory(callback_url=server.url, signing_secret=SECRET)
        )
        key = api_key_create(user=partner.user, name="till").key
        customer = cast(CustomerProfile, CustomerFactory())
        customer_fund(customer, 1000)
        offer = offer_make(price=PRICE)
        body = {"customer_phone": customer.phone, "offer": str(offer.id), "reference": "order-77"}
        # when
        outcomes = run_concurrently(lambda: _client(key).post(URL, body, format="json"), times=10)
        server.wait_for_calls(1, timeout_seconds=60)
        validated = _client(key).get("/api/v1/partner/validate/order-77/")
    # then
    responses = [outcome.value for outcome in outcomes]
    assert [outcome.error for outcome in outcomes] == [None] * 10
    assert sorted(response.status_code for response in responses if response) == [202] * 10
    activation = Activation.objects.get()
    assert {response.json()["id"] for response in responses if response} == {str(activation.id)}
    assert activation.status == ActivationStatus.SUCCEEDED
    assert len(provider.activated) == 1
    assert wallet_position(customer) == (1000 - PRICE, 0, 1000 - PRICE)
    assert Transfer.objects.filter(code=OFFER_ACTIVATION, kind="post_pending").count() == 1
    [call] = server.calls
    assert signature_valid(SECRET, call.signature, call.body)
    document = json.loads(call.body)
    assert document["event"] == "activation.finished"
    assert document["activation"]["id"] == str(activation.id)
    assert document["activation"]["partner_reference"] == "order-77"
    assert document["activation"]["status"] == "succeeded"
    assert document["activation"]["subscription"]["status"] == "active"
    assert validated.status_code == 200
    assert validated.json()["status"] == "succeeded"
    assert list(CallbackAttempt.objects.values_list("attempt", "status_code")) == [(1, 200)]
    assert_ledger_verifies()


@pytest.mark.timeout(120)
def test_a_refused_activation_is_called_back_failed_and_the_wallet_is_restored(
    celery_worker: Any, settings: Settings
) -> None:
    # given
    with (
        provider_simulator_run(latency_ms=0, failure_rate=0) as provider,
        partner_server_run() as server,
    ):
        settings.OFFERS_PROVIDER_URL = provider.url
        provider.reject_next(1)
        partner = cast(
            PartnerProfile, PartnerFactory(callback_url=server.url, signing_secret=SECRET)
        )
        customer = cast(CustomerProfile, CustomerFactory())
        customer_fund(customer, 1000)
        offer = offer_make(price=PRICE)
        body = {"customer": str(customer.pk), "offer": str(offer.id), "reference": "order-78"}
        # when
        response = _client(api_key_create(user=partner.user, name="till").key).post(
            URL, body, format="json"
        )
        server.wait_for_calls(1, timeout_seconds=60)
    # then
    assert response.status_code == 202
    [call] = server.calls
    assert signature_valid(SECRET, call.signature, call.body)
    document = json.loads(call.body)["activation"]
    assert (document["id"], document["status"]) == (response.json()["id"], "failed")
    assert document["failure_code"] == Activation.objects.get().failure_code != ""
    assert wallet_position(customer) == (1000, 0, 1000)
    assert Transfer.objects.filter(code=OFFER_ACTIVATION, kind="post_pending").count() == 0
    assert_ledger_verifies()
