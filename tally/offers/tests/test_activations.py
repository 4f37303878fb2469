"""Buying an offer: the reservation, the provisioning job against a real provider over HTTP
(the simulator on loopback), settlement, and every refusal writing nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from tally.identity.tests.factories import CustomerFactory, PartnerFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.exceptions import InsufficientFundsError
from tally.ledger.models import Transfer, TransferKind
from tally.ledger.testing import assert_ledger_verifies
from tally.notifications.models import Notification
from tally.offers.exceptions import (
    OfferCurrencyMismatchError,
    OfferUnavailableError,
    PartnerReferenceReusedError,
)
from tally.offers.models import (
    Activation,
    ActivationSource,
    ActivationStatus,
    Subscription,
    SubscriptionStatus,
)
from tally.offers.provider_simulator import ProviderSimulator
from tally.offers.services import PROVISION_TASK, activation_create
from tally.offers.testing import (
    activation_wait_final,
    customer_fund,
    offer_make,
    subscription_make,
    wallet_position,
)
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import run_concurrently


def _counter(name: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(name, {"outcome": outcome}) or 0.0


def _rows() -> dict[str, int]:
    return {
        "activations": Activation.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "transfers": Transfer.objects.count(),
        "jobs": OutboxMessage.objects.count(),
        "audit": AuditEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


def _job(activation: Activation) -> OutboxMessage:
    return OutboxMessage.objects.get(
        task_name=PROVISION_TASK, payload__activation_id=str(activation.pk)
    )


def _provider_key(activation: Activation) -> str:
    return f"outbox-{_job(activation).pk}"


def _resolutions(activation: Activation) -> list[str]:
    return list(
        Transfer.objects.filter(pending=activation.pending_transfer).values_list("kind", flat=True)
    )


def test_an_activation_is_provisioned_paid_once_and_starts_the_subscription(
    celery_worker: Any, provider: ProviderSimulator
) -> None:
    # given
    customer = CustomerFactory(user__full_name="Ada Lovelace")
    customer_fund(customer, 2000)
    offer = offer_make(price=500, validity_days=30)
    succeeded_before = _counter("tally_offer_activations_total", "succeeded")
    latency_before = _counter("tally_offer_activation_seconds_count", "succeeded")
    # when
    accepted = activation_create(customer=customer, offer=offer)
    # then: accepted, the price reserved
    assert accepted.status == ActivationStatus.PENDING
    assert re.fullmatch(r"ACT-[A-Z2-7]{10}", accepted.reference)
    assert accepted.source == ActivationSource.CUSTOMER
    assert accepted.amount == 500
    assert accepted.pending_transfer.kind == TransferKind.PENDING
    assert accepted.pending_transfer.reference == str(accepted.pk)
    # then: provisioned and paid exactly once
    done = activation_wait_final(accepted)
    assert done.status == ActivationStatus.SUCCEEDED
    assert done.provider_reference == "PRV-1"
    assert (done.failure_code, done.failure_detail) == ("", "")
    assert _resolutions(done) == [TransferKind.POST_PENDING]
    assert done.resolution_transfer_id is not None
    assert wallet_position(customer) == (1500, 0, 1500)
    assert provider.activated == {_provider_key(done): "PRV-1"}
    assert provider.calls == [_provider_key(done)]
    subscription = Subscription.objects.get()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.started_at == done.completed_at
    assert done.completed_at is not None
    assert subscription.expires_at == done.completed_at + timedelta(days=30)
    notification = Notification.objects.get()
    assert (notification.kind, notification.dedup_key, notification.user_id) == (
        "activation_succeeded",
        f"activation:{done.pk}:succeeded",
        customer.user_id,
    )
    assert notification.context["customer_name"] == "Ada Lovelace"
    assert notification.context["price"] == "5.00"
    assert _counter("tally_offer_activations_total", "succeeded") == succeeded_before + 1
    assert _counter("tally_offer_activation_seconds_count", "succeeded") == latency_before + 1
    assert_ledger_verifies()


def test_a_provider_refusal_fails_the_activation_and_gives_the_money_back(
    celery_worker: Any, provider: ProviderSimulator
) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 800)
    offer = offer_make(price=500)
    provider.reject_next(1)
    # when
    done = activation_wait_final(activation_create(customer=customer, offer=offer))
    # then
    assert done.status == ActivationStatus.FAILED
    assert done.failure_code == "provider_rejected"
    assert done.failure_detail == "The provider refused to activate this offer for this line."
    assert _resolutions(done) == [TransferKind.VOID_PENDING]
    assert wallet_position(customer) == (800, 0, 800)
    assert provider.calls == [_provider_key(done)]
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELLED
    assert Notification.objects.get().kind == "activation_failed"
    assert Notification.objects.get().context["failure_reason"] == (
        "the provider refused to activate it"
    )
    assert_ledger_verifies()


def test_a_provider_down_for_every_attempt_fails_the_activation_provider_unavailable(
    celery_worker: Any, provider: ProviderSimulator, settings: Any
) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 500)
    provider.fail_next(100)
    # when
    done = activation_wait_final(activation_create(customer=customer, offer=offer_make(price=500)))
    # then: every attempt called the provider with the same key, then the job gave up
    assert done.status == ActivationStatus.FAILED
    assert done.failure_code == "provider_unavailable"
    assert done.failure_detail == (
        f"The provider could not be reached after {settings.OFFERS_PROVIDER_MAX_ATTEMPTS} attempts."
    )
    assert provider.calls == [_provider_key(done)] * settings.OFFERS_PROVIDER_MAX_ATTEMPTS
    assert provider.activated == {}
    assert _resolutions(done) == [TransferKind.VOID_PENDING]
    assert wallet_position(customer) == (500, 0, 500)
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELLED
    assert _job(done).failed_at is not None
    assert_ledger_verifies()


def test_a_provider_that_times_out_then_answers_is_paid_once(
    celery_worker: Any, provider: ProviderSimulator, settings: Any
) -> None:
    # given: the first call is applied but answers after the adapter's timeout
    settings.OFFERS_PROVIDER_TIMEOUT_SECONDS = 0.3
    customer = CustomerFactory()
    customer_fund(customer, 1000)
    provider.stall_next(seconds=1.0)
    # when
    done = activation_wait_final(activation_create(customer=customer, offer=offer_make(price=400)))
    # then: retried with the same key; the provider applied it once; one debit
    key = _provider_key(done)
    assert done.status == ActivationStatus.SUCCEEDED
    assert provider.calls == [key, key]
    assert provider.activated == {key: "PRV-1"}
    assert _job(done).attempts == 2
    assert _resolutions(done) == [TransferKind.POST_PENDING]
    assert wallet_position(customer) == (600, 0, 600)
    assert_ledger_verifies()


def test_twenty_concurrent_activations_on_a_wallet_that_affords_five(
    celery_worker: Any, provider: ProviderSimulator
) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 2500)
    offer = offer_make(price=500)
    # when
    outcomes = run_concurrently(lambda: activation_create(customer=customer, offer=offer), times=20)
    # then: five accepted, fifteen refused for funds, never below zero
    accepted = [outcome.value for outcome in outcomes if outcome.ok]
    refused = [outcome.error for outcome in outcomes if not outcome.ok]
    assert len(accepted) == 5
    assert len(refused) == 15
    assert all(isinstance(error, InsufficientFundsError) for error in refused)
    finals = [activation_wait_final(activation) for activation in accepted if activation]
    assert [final.status for final in finals] == [ActivationStatus.SUCCEEDED] * 5
    assert Activation.objects.count() == 5
    assert Subscription.objects.filter(status=SubscriptionStatus.ACTIVE).count() == 5
    assert Subscription.objects.count() == 5
    assert wallet_position(customer) == (0, 0, 0)
    assert len(provider.activated) == 5
    assert_ledger_verifies()


@pytest.mark.django_db
def test_refusals_write_nothing(settings: Any) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 300)
    partner = PartnerFactory()
    other_offer = offer_make(price=100)
    activation_create(
        customer=customer,
        offer=other_offer,
        source=ActivationSource.PARTNER,
        partner=partner,
        partner_reference="order-1",
    )
    before = _rows()
    position = wallet_position(customer)
    cases = [
        (OfferUnavailableError, offer_make(is_active=False), {}),
        (OfferCurrencyMismatchError, offer_make(currency="EUR"), {}),
        (InsufficientFundsError, offer_make(price=201), {}),
        (
            PartnerReferenceReusedError,
            offer_make(price=100),
            {
                "source": ActivationSource.PARTNER,
                "partner": partner,
                "partner_reference": "order-1",
            },
        ),
    ]
    for error, offer, extra in cases:
        # when / then
        with pytest.raises(error):
            activation_create(customer=customer, offer=offer, **extra)
        assert _rows() == before, error.__name__
        assert wallet_position(customer) == position == (300, 100, 200)
    assert [error.code for error, _, _ in cases] == [
        "offer_unavailable",
        "offer_currency_mismatch",
        "insufficient_funds",
        "partner_reference_reused",
    ]


@pytest.mark.django_db
def test_a_partner_repeat_returns_the_first_activation() -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 1000)
    partner, offer = PartnerFactory(), offer_make(price=300)
    first = activation_create(
        customer=customer,
        offer=offer,
        source=ActivationSource.PARTNER,
        partner=partner,
        partner_reference="order-7",
    )
    before = _rows()
    # when
    repeat = activation_create(
        customer=customer,
        offer=offer,
        source=ActivationSource.PARTNER,
        partner=partner,
        partner_reference="order-7",
    )
    # then
    assert repeat.pk == first.pk
    assert _rows() == before
    assert wallet_position(customer) == (1000, 300, 700)


@pytest.mark.django_db(transaction=True)
def test_the_same_partner_reference_sent_ten_times_at_once_reserves_once() -> None:
    # given: the wallet could pay for three
    customer = CustomerFactory()
    customer_fund(customer, 900)
    partner, offer = PartnerFactory(), offer_make(price=300)

    def send() -> Activation:
        return activation_create(
            customer=customer,
            offer=offer,
            source=ActivationSource.PARTNER,
            partner=partner,
            partner_reference="order-9",
        )

    # when
    outcomes = run_concurrently(send, times=10)
    # then
    assert [outcome.error for outcome in outcomes] == [None] * 10
    assert {outcome.value.pk for outcome in outcomes if outcome.value} == {
        Activation.objects.get().pk
    }
    assert Subscription.objects.count() == 1
    assert wallet_position(customer) == (900, 300, 600)
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_operations_show_an_activation_to_its_customer_only() -> None:
    # given
    customer, stranger = CustomerFactory(), CustomerFactory()
    customer_fund(customer, 500)
    activation = activation_create(customer=customer, offer=offer_make(price=500))
    location = f"/api/v1/operations/{activation.pk}/"
    # when
    own = authenticate(APIClient(), customer.user).get(location)
    other = authenticate(APIClient(), stranger.user).get(location)
    # then
    assert own.status_code == 200
    body = own.json()
    assert {key: body[key] for key in ("id", "kind", "status", "reference", "amount")} == {
        "id": str(activation.pk),
        "kind": "activation",
        "status": "pending",
        "reference": activation.reference,
        "amount": "5.00",
    }
    assert other.status_code == 404


@pytest.mark.django_db
def test_the_offer_metrics_are_served_at_metrics() -> None:
    # when
    body = Client().get("/metrics").content.decode()
    # then
    for name in (
        "tally_offer_activations_total",
        "tally_offer_activation_seconds",
        "tally_offer_provider_call_seconds",
        "tally_offer_provider_failures_total",
        "tally_offer_reminders_total",
    ):
        assert f"# TYPE {name} " in body, name


@pytest.mark.django_db
def test_a_renewal_of_another_customers_subscription_is_a_programming_error() -> None:
    # given
    customer, other = CustomerFactory(), CustomerFactory()
    customer_fund(customer, 1000)
    offer = offer_make(price=100)
    subscription = subscription_make(other, offer)
    before = _rows()
    # when / then
    with pytest.raises(ValueError, match="its own customer"):
        activation_create(customer=customer, offer=offer, subscription=subscription)
    assert _rows() == before
    assert wallet_position(customer) == (1000, 0, 1000)
