"""Subscriptions: renewals through the activation flow, auto-renewal or expiry at the end of
a period, and one expiry reminder per period however often the beat job runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from tally.identity.tests.factories import CustomerFactory
from tally.ledger.models import Transfer
from tally.ledger.testing import assert_ledger_verifies
from tally.notifications.models import Notification
from tally.offers import services
from tally.offers.exceptions import OfferUnavailableError, SubscriptionNotRenewableError
from tally.offers.models import (
    Activation,
    ActivationSource,
    ActivationStatus,
    Subscription,
    SubscriptionStatus,
)
from tally.offers.provider_simulator import ProviderSimulator
from tally.offers.provisioning import ProvisioningResult
from tally.offers.testing import (
    activation_wait_final,
    customer_fund,
    offer_make,
    subscription_make,
    wallet_position,
)
from tally.platform.audit.models import AuditEvent
from tally.platform.db import use_case_transaction
from tally.platform.exceptions import InvalidStateError, NotFoundError
from tally.platform.outbox.callout import CallOutAttempt
from tally.platform.outbox.models import OutboxMessage


def _rows() -> dict[str, int]:
    return {
        "activations": Activation.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "transfers": Transfer.objects.count(),
        "jobs": OutboxMessage.objects.count(),
        "audit": AuditEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


def _fresh(subscription: Subscription) -> Subscription:
    return Subscription.objects.get(pk=subscription.pk)


# --- renew ---------------------------------------------------------------------------------


def test_renewing_an_active_subscription_extends_it_from_its_expiry(
    celery_worker: Any, provider: ProviderSimulator
) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 1000)
    offer = offer_make(price=400, validity_days=30)
    expires_at = timezone.now() + timedelta(days=5)
    subscription = subscription_make(customer, offer, expires_at=expires_at)
    # when
    activation = services.subscription_renew(actor_customer=customer, subscription=subscription)
    # then
    assert activation.subscription_id == subscription.pk
    assert wallet_position(customer) == (1000, 400, 600)
    done = activation_wait_final(activation)
    assert done.status == ActivationStatus.SUCCEEDED
    renewed = _fresh(subscription)
    assert renewed.status == SubscriptionStatus.ACTIVE
    assert renewed.expires_at == expires_at + timedelta(days=30)
    assert renewed.started_at == subscription.started_at
    assert Subscription.objects.count() == 1
    assert wallet_position(customer) == (600, 0, 600)
    assert Notification.objects.get().kind == "subscription_renewed"
    assert_ledger_verifies()


def test_renewing_a_recently_expired_subscription_starts_a_new_period(
    celery_worker: Any, provider: ProviderSimulator
) -> None:
    # given: expired two days ago (the grace is seven)
    customer = CustomerFactory()
    customer_fund(customer, 500)
    offer = offer_make(price=500, validity_days=10)
    subscription = subscription_make(
        customer,
        offer,
        status=SubscriptionStatus.EXPIRED,
        expires_at=timezone.now() - timedelta(days=2),
    )
    # when
    done = activation_wait_final(
        services.subscription_renew(actor_customer=customer, subscription=subscription)
    )
    # then
    renewed = _fresh(subscription)
    assert done.status == ActivationStatus.SUCCEEDED
    assert renewed.status == SubscriptionStatus.ACTIVE
    assert renewed.started_at == done.completed_at
    assert done.completed_at is not None
    assert renewed.expires_at == done.completed_at + timedelta(days=10)
    assert wallet_position(customer) == (0, 0, 0)
    assert_ledger_verifies()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "expired_days_ago"),
    [
        (SubscriptionStatus.CANCELLED, None),
        (SubscriptionStatus.PENDING, None),
        (SubscriptionStatus.EXPIRED, 8),
    ],
)
def test_a_subscription_that_is_not_renewable_is_refused(
    status: str, expired_days_ago: int | None
) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 1000)
    expires_at = (
        None if expired_days_ago is None else timezone.now() - timedelta(days=expired_days_ago)
    )
    subscription = subscription_make(customer, offer_make(), status=status, expires_at=expires_at)
    before = _rows()
    # when
    with pytest.raises(SubscriptionNotRenewableError) as refused:
        services.subscription_renew(actor_customer=customer, subscription=subscription)
    # then
    assert refused.value.code == "subscription_not_renewable"
    assert refused.value.status_code == 409
    assert refused.value.extra == {"current_status": status}
    assert _rows() == before
    assert wallet_position(customer) == (1000, 0, 1000)


@pytest.mark.django_db
def test_renewing_another_customers_subscription_is_not_found() -> None:
    # given
    owner, other = CustomerFactory(), CustomerFactory()
    customer_fund(other, 1000)
    subscription = subscription_make(owner, offer_make())
    before = _rows()
    # when
    with pytest.raises(NotFoundError):
        services.subscription_renew(actor_customer=other, subscription=subscription)
    # then
    assert _rows() == before
    assert wallet_position(other) == (1000, 0, 1000)


@pytest.mark.django_db
def test_auto_renew_is_set_by_the_owner_of_a_live_subscription_only() -> None:
    # given
    customer, other = CustomerFactory(), CustomerFactory()
    subscription = subscription_make(customer, offer_make())
    expired = subscription_make(
        customer, offer_make(), status=SubscriptionStatus.EXPIRED, expires_at=timezone.now()
    )
    # when
    changed = services.subscription_set_auto_renew(
        customer=customer, subscription=subscription, auto_renew=True
    )
    # then
    assert changed.auto_renew is True
    assert _fresh(subscription).auto_renew is True
    audit = AuditEvent.objects.get(action="subscription.auto_renew_changed")
    assert audit.changes == {"auto_renew": [False, True]}
    before = _rows()
    with pytest.raises(NotFoundError):
        services.subscription_set_auto_renew(
            customer=other, subscription=subscription, auto_renew=False
        )
    with pytest.raises(InvalidStateError):
        services.subscription_set_auto_renew(
            customer=customer, subscription=expired, auto_renew=True
        )
    assert _rows() == before
    assert _fresh(subscription).auto_renew is True
    assert _fresh(expired).auto_renew is False


# --- expiry and auto-renewal -----------------------------------------------------------------


def test_auto_renewal_with_funds_renews_from_the_expiry(
    celery_worker: Any, provider: ProviderSimulator
) -> None:
    # given: expired a minute ago, opted in, funded
    customer = CustomerFactory()
    customer_fund(customer, 700)
    offer = offer_make(price=700, validity_days=30)
    expires_at = timezone.now() - timedelta(minutes=1)
    subscription = subscription_make(customer, offer, expires_at=expires_at, auto_renew=True)
    # when
    first = services.subscription_expire_due()
    again = services.subscription_expire_due()
    # then: one renewal started (the second run finds it in flight)
    assert (first, again) == (services.ExpiryRun(renewed=1), services.ExpiryRun())
    activation = Activation.objects.get()
    assert activation.source == ActivationSource.AUTO_RENEW
    done = activation_wait_final(activation)
    assert done.status == ActivationStatus.SUCCEEDED
    renewed = _fresh(subscription)
    assert renewed.status == SubscriptionStatus.ACTIVE
    assert done.completed_at is not None
    assert renewed.expires_at == done.completed_at + timedelta(days=30)
    assert wallet_position(customer) == (0, 0, 0)
    assert services.subscription_expire_due() == services.ExpiryRun()
    assert Notification.objects.get().kind == "subscription_renewed"
    assert_ledger_verifies()


@pytest.mark.django_db
def test_auto_renewal_without_funds_expires_the_subscription_and_reserves_nothing() -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 699)
    expires_at = timezone.now() - timedelta(minutes=1)
    subscription = subscription_make(
        customer, offer_make(price=700), expires_at=expires_at, auto_renew=True
    )
    transfers_before = Transfer.objects.count()
    # when
    first = services.subscription_expire_due()
    again = services.subscription_expire_due()
    # then
    assert (first, again) == (services.ExpiryRun(expired=1), services.ExpiryRun())
    assert _fresh(subscription).status == SubscriptionStatus.EXPIRED
    assert _fresh(subscription).expires_at == expires_at
    assert Activation.objects.count() == 0
    assert Transfer.objects.count() == transfers_before
    assert wallet_position(customer) == (699, 0, 699)
    notification = Notification.objects.get()
    assert (notification.kind, notification.dedup_key) == (
        "subscription_expired",
        f"expired:{subscription.pk}:{expires_at.isoformat()}",
    )


@pytest.mark.django_db
def test_expiry_leaves_live_subscriptions_and_those_not_opted_in_are_expired() -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 5000)
    offer = offer_make(price=100)
    due = subscription_make(customer, offer, expires_at=timezone.now() - timedelta(seconds=1))
    live = subscription_make(customer, offer, expires_at=timezone.now() + timedelta(hours=1))
    # when
    run = services.subscription_expire_due()
    # then
    assert run == services.ExpiryRun(expired=1)
    assert _fresh(due).status == SubscriptionStatus.EXPIRED
    assert _fresh(live).status == SubscriptionStatus.ACTIVE
    assert Activation.objects.count() == 0
    assert wallet_position(customer) == (5000, 0, 5000)


@pytest.mark.django_db
def test_a_failed_auto_renewal_is_not_retried_for_the_same_period() -> None:
    # given: an auto-renewal for this period was tried and failed
    customer = CustomerFactory()
    customer_fund(customer, 5000)
    offer = offer_make(price=100)
    expires_at = timezone.now() - timedelta(minutes=5)
    subscription = subscription_make(customer, offer, expires_at=expires_at, auto_renew=True)
    assert services.subscription_expire_due() == services.ExpiryRun(renewed=1)
    tried = Activation.objects.get()
    refusal = ProvisioningResult(activated=False, failure_code="provider_rejected")
    with use_case_transaction():
        services.activation_settle(
            CallOutAttempt(message_id=0, attempt=1, max_attempts=1, idempotency_key="k"),
            refusal.as_json(),
            activation_id=str(tried.pk),
        )
    assert Activation.objects.get().status == ActivationStatus.FAILED
    assert _fresh(subscription).status == SubscriptionStatus.ACTIVE
    # when
    run = services.subscription_expire_due()
    # then
    assert run == services.ExpiryRun(expired=1)
    assert Activation.objects.count() == 1
    assert _fresh(subscription).status == SubscriptionStatus.EXPIRED


@pytest.mark.django_db
def test_auto_renewal_of_a_withdrawn_offer_expires_the_subscription() -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 5000)
    subscription = subscription_make(
        customer,
        offer_make(price=100, is_active=False),
        expires_at=timezone.now() - timedelta(seconds=1),
        auto_renew=True,
    )
    # when
    run = services.subscription_expire_due()
    # then
    assert run == services.ExpiryRun(expired=1)
    assert _fresh(subscription).status == SubscriptionStatus.EXPIRED
    assert Activation.objects.count() == 0
    assert OfferUnavailableError.code == "offer_unavailable"


# --- reminders -------------------------------------------------------------------------------


def _reminders() -> float:
    return REGISTRY.get_sample_value("tally_offer_reminders_total") or 0.0


@pytest.mark.django_db(transaction=True)
def test_the_reminder_job_run_three_times_sends_one_reminder_per_period(settings: Any) -> None:
    # given
    settings.OFFERS_REMINDER_DAYS = 3
    customer = CustomerFactory()
    offer = offer_make(validity_days=30)
    expires_at = timezone.now() + timedelta(days=2)
    subscription = subscription_make(customer, offer, expires_at=expires_at)
    later = subscription_make(customer, offer, expires_at=timezone.now() + timedelta(days=4))
    counted_before = _reminders()
    # when
    runs = [services.subscription_remind_expiring() for _ in range(3)]
    # then
    assert runs == [1, 0, 0]
    notification = Notification.objects.get()
    assert (notification.kind, notification.dedup_key, notification.user_id) == (
        "subscription_expiring",
        f"expiring:{subscription.pk}:{expires_at.isoformat()}",
        customer.user_id,
    )
    assert _fresh(subscription).reminded_for_expires_at == expires_at
    assert _fresh(later).reminded_for_expires_at is None
    assert _reminders() == counted_before + 1
    # when: a renewal moved the expiry into a new period that also ends soon
    new_expiry = expires_at + timedelta(hours=12)
    Subscription.objects.filter(pk=subscription.pk).update(expires_at=new_expiry)
    runs = [services.subscription_remind_expiring() for _ in range(3)]
    # then: one more reminder, for the new period
    assert runs == [1, 0, 0]
    assert sorted(Notification.objects.values_list("dedup_key", flat=True)) == sorted(
        [
            f"expiring:{subscription.pk}:{expires_at.isoformat()}",
            f"expiring:{subscription.pk}:{new_expiry.isoformat()}",
        ]
    )
    assert _reminders() == counted_before + 2
