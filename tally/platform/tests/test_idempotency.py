"""Idempotency-Key on unsafe requests, driven through a real endpoint (API key creation)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tally.identity.models import ApiKey, VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.platform.idempotency import services
from tally.platform.idempotency.models import IdempotencyRecord
from tally.platform.testing.race import run_concurrently


def create_key(client: APIClient, key: str, name: str = "till"):
    return client.post("/api/v1/api-keys/", {"name": name}, HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_replay_returns_stored_response_without_repeating_the_effect(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # given
    first = create_key(vendor_client, "k-1")
    assert first.status_code == 201
    # when
    again = create_key(vendor_client, "k-1")
    # then
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == {**first.json(), "key": None}  # the secret is never stored
    assert "Idempotent-Replayed" not in first
    assert ApiKey.objects.filter(user=vendor.user).count() == 1


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_422_and_changes_nothing(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    create_key(vendor_client, "k-2", name="till")
    response = create_key(vendor_client, "k-2", name="other")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(ApiKey.objects.filter(user=vendor.user).values_list("name", flat=True)) == ["till"]


@pytest.mark.django_db
def test_json_key_order_does_not_change_the_fingerprint(vendor_client: APIClient) -> None:
    first = vendor_client.generic(
        "POST",
        "/api/v1/api-keys/",
        '{"name": "a", "x": 1}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-3",
    )
    again = vendor_client.generic(
        "POST",
        "/api/v1/api-keys/",
        '{"x":1,"name":"a"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-3",
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_keys_are_scoped_to_the_caller(vendor_client: APIClient, vendor: VendorProfile) -> None:
    other = VendorFactory()
    other_client = authenticate(APIClient(), other.user)
    assert create_key(vendor_client, "shared").status_code == 201
    response = create_key(other_client, "shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert ApiKey.objects.count() == 2


@pytest.mark.django_db
def test_failed_attempt_is_not_stored_and_may_be_retried(inactive_vendor: VendorProfile) -> None:
    client = authenticate(APIClient(), inactive_vendor.user)
    assert create_key(client, "k-4").status_code == 422
    assert not IdempotencyRecord.objects.exists()
    VendorProfile.objects.filter(pk=inactive_vendor.pk).update(is_active=True)
    assert create_key(client, "k-4").status_code == 201
    assert ApiKey.objects.count() == 1


@pytest.mark.django_db
def test_record_and_effect_commit_together(
    vendor_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: storing the outcome fails after the handler made its effect
    def broken_store(**kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "idempotency_store", broken_store)
    # when
    response = create_key(vendor_client, "k-5")
    # then: neither the record nor the effect exists
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_expired_record_no_longer_replays_and_is_purged(vendor_client: APIClient) -> None:
    create_key(vendor_client, "k-6")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = create_key(vendor_client, "k-6")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert ApiKey.objects.count() == 2
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.idempotency_records_purge() == 1
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("bad_key", ["", "x" * 256, "has space", "ünïcode"])
def test_malformed_key_is_400(vendor_client: APIClient, bad_key: str) -> None:
    response = vendor_client.post(
        "/api/v1/api-keys/", {"name": "x"}, headers={"Idempotency-Key": bad_key}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not ApiKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_have_one_effect() -> None:
    # given
    vendor = VendorFactory()

    def attempt() -> tuple[int, dict, str | None]:
        response = create_key(authenticate(APIClient(), vendor.user), "concurrent")
        return response.status_code, response.json(), response.get("Retry-After")

    # when
    outcomes = run_concurrently(attempt, times=20)
    results = [outcome.value for outcome in outcomes if outcome.value is not None]

    # then: one key exists; every answer is the one creation, or "in progress, retry"
    assert [outcome.error for outcome in outcomes] == [None] * 20
    assert ApiKey.objects.filter(user=vendor.user).count() == 1
    created_id = str(ApiKey.objects.get(user=vendor.user).id)
    for status, body, retry_after in results:
        assert status in (201, 409), body
        if status == 201:
            assert body["id"] == created_id
        else:
            assert body["code"] == "idempotency_in_progress"
            assert retry_after == "1"
    assert sum(1 for status, _, _ in results if status == 201) >= 1
