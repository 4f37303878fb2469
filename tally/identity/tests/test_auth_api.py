from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tally.identity.models import CustomerProfile, Role, User, VendorProfile
from tally.identity.tests.factories import PASSWORD, CustomerFactory, VendorFactory
from tally.platform.audit.models import AuditEvent
from tally.platform.testing.openapi import assert_documented

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def login(client: APIClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login/", {"email": email, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def test_register_customer_creates_user_profile_and_audit(api_client: APIClient) -> None:
    # given
    body = {
        "email": "Ada@Example.com",
        "password": PASSWORD,
        "role": "customer",
        "phone": "(415) 555-0199",
    }
    # when
    response = api_client.post("/api/v1/auth/register/", body)
    # then
    assert response.status_code == 201
    assert response.json()["email"] == "ada@example.com"
    user = User.objects.get(email="ada@example.com")
    assert user.role == Role.CUSTOMER
    assert CustomerProfile.objects.get(user=user).phone == "+14155550199"
    assert AuditEvent.objects.filter(action="user.registered", target_id=str(user.id)).count() == 1


def test_register_vendor_starts_inactive(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/v1/auth/register/",
        {
            "email": "shop@example.com",
            "password": PASSWORD,
            "role": "vendor",
            "business_name": "Shop",
        },
    )
    assert response.status_code == 201
    assert VendorProfile.objects.get(user__email="shop@example.com").is_active is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@example.com", "password": PASSWORD, "role": "admin"}, "role"),
        (
            {
                "email": "not-an-email",
                "password": PASSWORD,
                "role": "customer",
                "phone": "+14155550100",
            },
            "email",
        ),
        (
            {
                "email": "x@example.com",
                "password": "123",
                "role": "customer",
                "phone": "+14155550100",
            },
            "password",
        ),
        (
            {"email": "x@example.com", "password": PASSWORD, "role": "customer", "phone": "12"},
            "phone",
        ),
        ({"email": "x@example.com", "password": PASSWORD, "role": "customer"}, "phone"),
        ({"email": "x@example.com", "password": PASSWORD, "role": "vendor"}, "business_name"),
    ],
)
def test_register_rejects_bad_input_and_writes_nothing(
    api_client: APIClient, body: dict, field: str
) -> None:
    response = api_client.post("/api/v1/auth/register/", body)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in [error["field"] for error in problem["errors"]]
    assert not User.objects.filter(email="x@example.com").exists()


def test_register_duplicate_email_is_conflict_case_insensitively(api_client: APIClient) -> None:
    CustomerFactory(user__email="taken@example.com")
    response = api_client.post(
        "/api/v1/auth/register/",
        {
            "email": "TAKEN@example.com",
            "password": PASSWORD,
            "role": "customer",
            "phone": "+14155550177",
        },
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_login_returns_token_pair_and_me_works(api_client: APIClient) -> None:
    vendor = VendorFactory(user__email="v@example.com")
    tokens = login(api_client, "v@example.com")
    assert set(tokens) == {"access", "refresh"}
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api_client.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json()["id"] == str(vendor.user_id)
    assert me.json()["vendor"]["business_name"] == vendor.business_name


def test_a_replayed_sign_in_shows_null_tokens_as_the_schema_documents(
    api_client: APIClient,
) -> None:
    # given
    VendorFactory(user__email="v@example.com")
    body = {"email": "v@example.com", "password": PASSWORD}
    headers = {"HTTP_IDEMPOTENCY_KEY": "login-1"}
    signed_in = api_client.post("/api/v1/auth/login/", body, **headers)
    # when
    replayed = api_client.post("/api/v1/auth/login/", body, **headers)
    # then
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == {"access": None, "refresh": None}
    assert_documented(signed_in, method="POST", path="/api/v1/auth/login/")
    assert_documented(replayed, method="POST", path="/api/v1/auth/login/")


def test_a_replayed_refresh_shows_null_tokens_as_the_schema_documents(
    api_client: APIClient,
) -> None:
    # given
    VendorFactory(user__email="v@example.com")
    body = {"refresh": login(api_client, "v@example.com")["refresh"]}
    headers = {"HTTP_IDEMPOTENCY_KEY": "refresh-1"}
    refreshed = api_client.post("/api/v1/auth/refresh/", body, **headers)
    # when
    replayed = api_client.post("/api/v1/auth/refresh/", body, **headers)
    # then
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == {"access": None, "refresh": None}
    assert_documented(refreshed, method="POST", path="/api/v1/auth/refresh/")
    assert_documented(replayed, method="POST", path="/api/v1/auth/refresh/")


def test_login_wrong_password_is_401_problem(api_client: APIClient) -> None:
    VendorFactory(user__email="v@example.com")
    response = api_client.post(
        "/api/v1/auth/login/", {"email": "v@example.com", "password": "wrong"}
    )
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_authenticated"


@override_settings(TALLY_RATE_LIMITS={"login": "3/min"})
def test_login_is_throttled(api_client: APIClient) -> None:
    VendorFactory(user__email="v@example.com")
    statuses = [
        api_client.post(
            "/api/v1/auth/login/", {"email": "v@example.com", "password": "wrong"}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    response = api_client.post(
        "/api/v1/auth/login/", {"email": "v@example.com", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


@override_settings(TALLY_RATE_LIMITS={"login": "3/min", "login_address": "5/min"})
def test_login_spraying_many_emails_from_one_address_is_throttled(api_client: APIClient) -> None:
    # given: twelve accounts, each tried once from the same address
    emails = [f"user{number}@example.com" for number in range(12)]
    for email in emails:
        VendorFactory(user__email=email)
    # when
    statuses = [
        api_client.post("/api/v1/auth/login/", {"email": email, "password": "wrong"}).status_code
        for email in emails
    ]
    # then: the address's budget runs out whatever the email
    assert statuses == [401] * 5 + [429] * 7
    right = api_client.post("/api/v1/auth/login/", {"email": emails[0], "password": PASSWORD})
    assert right.status_code == 429
    assert right.json()["code"] == "rate_limited"
    assert int(right["Retry-After"]) >= 1
    # another address keeps its own budget
    elsewhere = api_client.post(
        "/api/v1/auth/login/",
        {"email": emails[0], "password": PASSWORD},
        REMOTE_ADDR="198.51.100.7",
    )
    assert elsewhere.status_code == 200


def test_refresh_rotates_and_old_refresh_is_refused(api_client: APIClient) -> None:
    VendorFactory(user__email="v@example.com")
    first = login(api_client, "v@example.com")
    rotated = api_client.post("/api/v1/auth/refresh/", {"refresh": first["refresh"]})
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != first["refresh"]
    replay = api_client.post("/api/v1/auth/refresh/", {"refresh": first["refresh"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "not_authenticated"


def test_token_responses_are_never_stored_by_caches(api_client: APIClient) -> None:
    # given
    VendorFactory(user__email="v@example.com")
    # when
    signed_in = api_client.post(
        "/api/v1/auth/login/", {"email": "v@example.com", "password": PASSWORD}
    )
    refreshed = api_client.post("/api/v1/auth/refresh/", {"refresh": signed_in.json()["refresh"]})
    # then
    assert (signed_in.status_code, refreshed.status_code) == (200, 200)
    assert signed_in["Cache-Control"] == "no-store"
    assert refreshed["Cache-Control"] == "no-store"


def test_logged_out_refresh_token_is_refused(api_client: APIClient) -> None:
    VendorFactory(user__email="v@example.com")
    tokens = login(api_client, "v@example.com")
    assert (
        api_client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 204
    )
    response = api_client.post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    again = api_client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]})
    assert again.status_code == 401


def test_tampered_jwt_is_refused(api_client: APIClient) -> None:
    VendorFactory(user__email="v@example.com")
    access = login(api_client, "v@example.com")["access"]
    header, payload, signature = access.split(".")
    tampered_signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    for token in (
        f"{header}.{payload}.{tampered_signature}",
        f"{header}.{payload[:-2]}xx.{signature}",
        "garbage",
    ):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = api_client.get("/api/v1/auth/me/")
        assert response.status_code == 401
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "not_authenticated"


def test_me_without_credentials_is_401_with_challenge(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_patch_me_updates_own_vendor_profile_only(api_client: APIClient) -> None:
    vendor = VendorFactory(user__email="v@example.com", is_active=False)
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {login(api_client, 'v@example.com')['access']}"
    )
    response = api_client.patch("/api/v1/auth/me/", {"business_name": "Renamed", "is_active": True})
    assert response.status_code == 200
    vendor.refresh_from_db()
    assert vendor.business_name == "Renamed"
    assert vendor.is_active is False
