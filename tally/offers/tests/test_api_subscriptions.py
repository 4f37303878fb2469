"""``POST offers/renew/``, ``GET offers/expiring/`` and the customer's subscriptions
(``account/subscriptions/`` + detail, auto-renew): per role, exact bodies, every refusal
writing nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tally.identity.models import CustomerProfile
from tally.identity.tests.factories import CustomerFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.models import Transfer
from tally.offers.models import Activation, Offer, Subscription, SubscriptionStatus
from tally.offers.testing import customer_fund, offer_make, subscription_make, wallet_position
from tally.offers.tests.test_api_activations import activation_body
from tally.offers.tests.test_api_catalog import offer_body
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.openapi import assert_documented

pytestmark = pytest.mark.django_db

RENEW = "/api/v1/offers/renew/"
EXPIRING = "/api/v1/offers/expiring/"
MINE = "/api/v1/account/subscriptions/"
OTHER_ROLES = [
    ("admin", 403, "permission_denied"),
    ("vendor", 403, "permission_denied"),
    ("partner", 403, "permission_denied"),
    ("anonymous", 401, "not_authenticated"),
]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def subscription_body(subscription: Subscription) -> dict[str, Any]:
    subscription.refresh_from_db()
    return {
        "id": str(subscription.pk),
        "offer": offer_body(subscription.offer),
        "status": subscription.status,
        "started_at": _iso(subscription.started_at),
        "expires_at": _iso(subscription.expires_at),
        "auto_renew": subscription.auto_renew,
        "created_at": _iso(subscription.created_at),
        "updated_at": _iso(subscription.updated_at),
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


def role_client(role: str, request: Any) -> APIClient:
    return APIClient() if role == "anonymous" else request.getfixturevalue(f"{role}_client")


def _expiring_in(
    customer: CustomerProfile, offer: Offer, days: float, **fields: Any
) -> Subscription:
    return subscription_make(
        customer, offer, expires_at=timezone.now() + timedelta(days=days), **fields
    )


# --- renew -------------------------------------------------------------------------------


def test_a_customer_renews_an_active_subscription() -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    offer = offer_make(price=500)
    subscription = _expiring_in(customer, offer, 2)
    # when
    response = client.post(RENEW, {"subscription": str(subscription.pk)})
    # then
    assert response.status_code == 202
    activation = Activation.objects.get()
    assert response["Location"] == f"/api/v1/activations/{activation.pk}/"
    assert response.json() == activation_body(activation)
    assert (activation.subscription_id, activation.offer_id, activation.amount) == (
        subscription.pk,
        offer.pk,
        500,
    )
    assert wallet_position(customer) == (2000, 500, 1500)
    assert Subscription.objects.count() == 1


def test_a_recently_expired_subscription_may_be_renewed() -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    subscription = _expiring_in(customer, offer_make(), -1, status=SubscriptionStatus.EXPIRED)
    # when
    response = client.post(RENEW, {"subscription": str(subscription.pk)})
    # then
    assert response.status_code == 202
    assert Activation.objects.get().subscription_id == subscription.pk


@pytest.mark.parametrize(
    ("status", "expires_in_days"),
    [
        (SubscriptionStatus.CANCELLED, None),
        (SubscriptionStatus.PENDING, None),
        (SubscriptionStatus.EXPIRED, -8),
    ],
)
def test_a_subscription_that_is_not_renewable_is_refused_and_nothing_is_written(
    status: str, expires_in_days: int | None
) -> None:
    # given
    customer, client = customer_with_client(funds=2000)
    offer = offer_make()
    subscription = (
        subscription_make(customer, offer, status=status)
        if expires_in_days is None
        else _expiring_in(customer, offer, expires_in_days, status=status)
    )
    before = rows()
    # when
    response = client.post(RENEW, {"subscription": str(subscription.pk)})
    # then
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "subscription_not_renewable"
    assert rows() == before
    assert wallet_position(customer) == (2000, 0, 2000)


@pytest.mark.parametrize(
    ("offer_fields", "funds", "code"),
    [({"is_active": False}, 2000, "offer_unavailable"), ({}, 499, "insufficient_funds")],
)
def test_a_renewal_the_rules_refuse_writes_nothing(
    offer_fields: dict[str, Any], funds: int, code: str
) -> None:
    # given
    customer, client = customer_with_client(funds=funds)
    subscription = _expiring_in(customer, offer_make(price=500, **offer_fields), 2)
    before = rows()
    # when
    response = client.post(RENEW, {"subscription": str(subscription.pk)})
    # then
    assert (response.status_code, response.json()["code"]) == (422, code)
    assert rows() == before
    assert wallet_position(customer) == (funds, 0, funds)


def test_renewing_another_customers_subscription_is_not_found() -> None:
    # given
    _, client = customer_with_client(funds=2000)
    someone_else = CustomerFactory()
    customer_fund(someone_else, 2000)
    subscription = _expiring_in(someone_else, offer_make(), 2)
    before = rows()
    # when
    response = client.post(RENEW, {"subscription": str(subscription.pk)})
    # then
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert_documented(response, method="POST", path=RENEW)
    assert rows() == before
    assert wallet_position(someone_else) == (2000, 0, 2000)


@pytest.mark.parametrize("body", [{}, {"subscription": "nope"}])
def test_a_malformed_renewal_is_a_validation_error(body: dict[str, Any]) -> None:
    _, client = customer_with_client(funds=2000)
    before = rows()
    response = client.post(RENEW, body)
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert [error["field"] for error in response.json()["errors"]] == ["subscription"]
    assert rows() == before


@pytest.mark.parametrize(("role", "expected", "code"), OTHER_ROLES)
def test_only_customers_renew(role: str, expected: int, code: str, request: Any) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 2000)
    subscription = _expiring_in(customer, offer_make(), 2)
    before = rows()
    # when
    response = role_client(role, request).post(RENEW, {"subscription": str(subscription.pk)})
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert rows() == before


# --- expiring ----------------------------------------------------------------------------


def test_expiring_lists_own_active_subscriptions_within_the_days_soonest_first() -> None:
    # given
    customer, client = customer_with_client()
    offer = offer_make()
    in_five = _expiring_in(customer, offer, 5)
    in_one = _expiring_in(customer, offer, 1)
    _expiring_in(customer, offer, 9)  # beyond the window
    _expiring_in(customer, offer, -1, status=SubscriptionStatus.EXPIRED)
    subscription_make(customer, offer, status=SubscriptionStatus.PENDING)
    _expiring_in(CustomerFactory(), offer, 1)  # someone else's
    # when
    response = client.get(f"{EXPIRING}?days=7")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "results": [subscription_body(in_one), subscription_body(in_five)],
        "next": None,
        "previous": None,
    }


def test_expiring_looks_ahead_the_reminder_days_by_default(settings: Any) -> None:
    # given
    settings.OFFERS_REMINDER_DAYS = 3
    customer, client = customer_with_client()
    offer = offer_make()
    soon = _expiring_in(customer, offer, 2)
    _expiring_in(customer, offer, 4)
    # when
    response = client.get(EXPIRING)
    # then
    assert [item["id"] for item in response.json()["results"]] == [str(soon.pk)]


@pytest.mark.parametrize("days", ["0", "366", "-1", "soon"])
def test_expiring_days_out_of_range_is_a_validation_error(days: str) -> None:
    _, client = customer_with_client()
    response = client.get(f"{EXPIRING}?days={days}")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert [error["field"] for error in response.json()["errors"]] == ["days"]


@pytest.mark.parametrize(("role", "expected", "code"), OTHER_ROLES)
def test_only_customers_list_expiring(role: str, expected: int, code: str, request: Any) -> None:
    response = role_client(role, request).get(EXPIRING)
    assert (response.status_code, response.json()["code"]) == (expected, code)


# --- account/subscriptions ----------------------------------------------------------------


def test_a_customer_lists_its_own_subscriptions_newest_first() -> None:
    # given
    customer, client = customer_with_client()
    offer = offer_make()
    older = subscription_make(customer, offer, status=SubscriptionStatus.CANCELLED)
    newer = _expiring_in(customer, offer, 10)
    subscription_make(CustomerFactory(), offer)
    # when
    response = client.get(MINE)
    # then
    assert response.status_code == 200
    assert response.json() == {
        "results": [subscription_body(newer), subscription_body(older)],
        "next": None,
        "previous": None,
    }


def test_subscriptions_page_with_a_cursor() -> None:
    # given
    customer, client = customer_with_client()
    offer = offer_make()
    made = [subscription_make(customer, offer) for _ in range(3)]
    # when
    first = client.get(f"{MINE}?page_size=2").json()
    rest = client.get(first["next"]).json()
    # then
    assert [s["id"] for s in first["results"] + rest["results"]] == [
        str(s.pk) for s in reversed(made)
    ]
    assert rest["next"] is None


def test_a_customer_reads_one_of_its_subscriptions_but_not_anothers() -> None:
    # given
    customer, client = customer_with_client()
    offer = offer_make()
    own = subscription_make(customer, offer)
    other = subscription_make(CustomerFactory(), offer)
    # when
    mine = client.get(f"{MINE}{own.pk}/")
    theirs = client.get(f"{MINE}{other.pk}/")
    # then
    assert (mine.status_code, mine.json()) == (200, subscription_body(own))
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")


def test_a_customer_turns_auto_renew_on() -> None:
    # given
    customer, client = customer_with_client()
    subscription = subscription_make(customer, offer_make())
    # when
    response = client.patch(f"{MINE}{subscription.pk}/", {"auto_renew": True})
    # then
    assert response.status_code == 200
    assert response.json() == subscription_body(subscription)
    assert subscription.auto_renew is True
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.changes) == (
        "subscription.auto_renew_changed",
        customer.user_id,
        {"auto_renew": [False, True]},
    )


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        (SubscriptionStatus.EXPIRED, 409, "invalid_state"),
        (SubscriptionStatus.CANCELLED, 409, "invalid_state"),
    ],
)
def test_auto_renew_of_an_ended_subscription_is_refused(
    status: str, expected: int, code: str
) -> None:
    # given
    customer, client = customer_with_client()
    subscription = subscription_make(customer, offer_make(), status=status)
    before = subscription_body(subscription)
    # when
    response = client.patch(f"{MINE}{subscription.pk}/", {"auto_renew": True})
    # then
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert subscription_body(subscription) == before
    assert AuditEvent.objects.count() == 0


def test_auto_renew_of_anothers_subscription_or_without_a_value_changes_nothing() -> None:
    # given
    customer, client = customer_with_client()
    own = subscription_make(customer, offer_make())
    other = subscription_make(CustomerFactory(), own.offer)
    # when
    theirs = client.patch(f"{MINE}{other.pk}/", {"auto_renew": True})
    missing = client.patch(f"{MINE}{own.pk}/", {})
    # then
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
    assert (missing.status_code, missing.json()["code"]) == (400, "validation_error")
    assert Subscription.objects.filter(auto_renew=True).count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(("role", "expected", "code"), OTHER_ROLES)
def test_only_customers_see_and_change_account_subscriptions(
    role: str, expected: int, code: str, request: Any
) -> None:
    # given
    subscription = subscription_make(CustomerFactory(), offer_make())
    client = role_client(role, request)
    # when
    responses = [
        client.get(MINE),
        client.get(f"{MINE}{subscription.pk}/"),
        client.patch(f"{MINE}{subscription.pk}/", {"auto_renew": True}),
    ]
    # then
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(expected, code)] * 3
    assert Subscription.objects.get().auto_renew is False
