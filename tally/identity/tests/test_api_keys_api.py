from __future__ import annotations

import hashlib

import pytest
from rest_framework.test import APIClient

from tally.identity.models import ApiKey, VendorProfile
from tally.identity.tests.fixtures import authenticate
from tally.platform.testing.openapi import assert_documented

pytestmark = pytest.mark.django_db


def create_key(client: APIClient, name: str = "till") -> dict:
    response = client.post("/api/v1/api-keys/", {"name": name})
    assert response.status_code == 201, response.content
    return response.json()


def test_create_shows_key_once_and_stores_only_its_hash(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # when
    body = create_key(vendor_client)
    # then
    assert set(body) >= {"id", "name", "prefix", "key"}
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_hash == hashlib.sha256(body["key"].encode()).hexdigest()
    assert body["key"] not in {stored.key_hash, stored.prefix, stored.name}
    listed = vendor_client.get("/api/v1/api-keys/").json()["results"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0]
    assert "key" not in vendor_client.get(f"/api/v1/api-keys/{body['id']}/").json()


def test_the_created_key_is_never_stored_by_caches(vendor_client: APIClient) -> None:
    # when: a creation, and its replay under the same Idempotency-Key
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-create-1"}
    created = vendor_client.post("/api/v1/api-keys/", {"name": "till"}, **headers)
    replayed = vendor_client.post("/api/v1/api-keys/", {"name": "till"}, **headers)
    # then
    assert (created.status_code, replayed.status_code) == (201, 201)
    assert created.json()["key"]
    assert created["Cache-Control"] == "no-store"
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed["Cache-Control"] == "no-store"


def test_a_replayed_creation_shows_a_null_key_as_the_schema_documents(
    vendor_client: APIClient,
) -> None:
    # given
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-create-2"}
    created = vendor_client.post("/api/v1/api-keys/", {"name": "till"}, **headers)
    # when
    replayed = vendor_client.post("/api/v1/api-keys/", {"name": "till"}, **headers)
    # then
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == {**created.json(), "key": None}
    assert_documented(created, method="POST", path="/api/v1/api-keys/")
    assert_documented(replayed, method="POST", path="/api/v1/api-keys/")


def test_api_key_authenticates_and_records_last_use(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    body = create_key(vendor_client)
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Api-Key {body['key']}")
    response = machine.get("/api/v1/auth/me/")
    assert response.status_code == 200
    assert response.json()["id"] == str(vendor.user_id)
    assert ApiKey.objects.get(pk=body["id"]).last_used_at is not None


@pytest.mark.parametrize(
    "transform",
    [lambda k: k[:-1] + ("a" if k[-1] != "a" else "b"), lambda k: "tly_nope_x", lambda k: "junk"],
)
def test_wrong_or_malformed_api_key_is_refused(vendor_client: APIClient, transform) -> None:
    body = create_key(vendor_client)
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Api-Key {transform(body['key'])}")
    response = machine.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_revoked_api_key_is_refused(vendor_client: APIClient) -> None:
    body = create_key(vendor_client)
    assert vendor_client.delete(f"/api/v1/api-keys/{body['id']}/").status_code == 204
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Api-Key {body['key']}")
    response = machine.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "revoked" in response.json()["detail"]


def test_inactive_vendor_cannot_create_api_keys(inactive_vendor: VendorProfile) -> None:
    client = authenticate(APIClient(), inactive_vendor.user)
    response = client.post("/api/v1/api-keys/", {"name": "till"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "vendor_inactive"
    assert not ApiKey.objects.exists()


def test_customers_have_no_api_keys(customer_client: APIClient) -> None:
    response = customer_client.post("/api/v1/api-keys/", {"name": "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not ApiKey.objects.exists()


def test_cannot_see_or_revoke_another_users_key(
    vendor_client: APIClient, partner_client: APIClient
) -> None:
    body = create_key(partner_client)
    assert vendor_client.get(f"/api/v1/api-keys/{body['id']}/").status_code == 404
    assert vendor_client.delete(f"/api/v1/api-keys/{body['id']}/").status_code == 404
    assert ApiKey.objects.get(pk=body["id"]).revoked_at is None
