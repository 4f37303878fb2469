from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tally.identity.models import ApiKey
from tally.platform.ratelimit.services import Rate, rate_parse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("60/min", Rate(60, 60)),
        ("5/s", Rate(5, 1)),
        ("100/2hour", Rate(100, 7200)),
        ("off", None),
        ("", None),
    ],
)
def test_rate_parse(value: str, expected: Rate | None) -> None:
    assert rate_parse(value) == expected


@override_settings(TALLY_RATE_LIMITS={"read": "3/min", "write": "off"})
def test_reads_are_limited_per_caller_with_headers(
    vendor_client: APIClient, customer_client: APIClient
) -> None:
    responses = [vendor_client.get("/api/v1/auth/me/") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert responses[0]["RateLimit-Limit"] == "3"
    limited = responses[-1]
    assert limited["Content-Type"] == "application/problem+json"
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # another caller has its own budget
    assert customer_client.get("/api/v1/auth/me/").status_code == 200


@override_settings(TALLY_RATE_LIMITS={"read": "off", "write": "1/min"})
def test_writes_are_limited_separately_from_reads(vendor_client: APIClient) -> None:
    assert vendor_client.post("/api/v1/api-keys/", {"name": "a"}).status_code == 201
    refused = vendor_client.post("/api/v1/api-keys/", {"name": "b"})
    assert refused.status_code == 429
    assert ApiKey.objects.count() == 1
    assert vendor_client.get("/api/v1/auth/me/").status_code == 200


@override_settings(TALLY_RATE_LIMITS={"read": "1/min"})
def test_limits_fail_open_when_redis_is_unreachable(vendor_client: APIClient) -> None:
    unreachable = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    # Django drops its cache connections when CACHES changes, so this reaches port 1.
    with override_settings(CACHES=unreachable):
        statuses = [vendor_client.get("/api/v1/auth/me/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


@pytest.mark.django_db
@override_settings(TALLY_RATE_LIMITS={"register": "1/min"})
def test_an_anonymous_caller_cannot_pick_its_address_with_x_forwarded_for() -> None:
    client = APIClient()
    statuses = [
        client.post(
            "/api/v1/auth/register/", {}, format="json", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"
        ).status_code
        for n in range(3)
    ]
    assert statuses[0] != 429
    assert statuses[1:] == [429, 429]
