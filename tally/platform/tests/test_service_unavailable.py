"""A backing service lost mid-request is a clean 503 problem, never a 500 with a traceback.

The database connection is really cut: a second connection terminates the request's backend
(what a PostgreSQL restart or failover does to every open connection)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tally.identity.models import VendorProfile
from tally.identity.tests.fixtures import authenticate
from tally.platform.testing.live_server import live_server_run

pytestmark = pytest.mark.django_db(transaction=True)


def _admin_params() -> dict[str, Any]:
    settings = connection.settings_dict
    return {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "host": settings["HOST"],
        "port": settings["PORT"] or None,
    }


def _terminate(backend_pid: int) -> None:
    with psycopg.connect(**_admin_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


def _get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", "")


def _cut_own_connection() -> None:
    """Terminate this thread's database connection: the one the test client's next request
    will use."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    _terminate(pid)


@pytest.fixture
def reconnect_after() -> Iterator[None]:
    yield
    connection.close()


def test_database_gone_mid_request_is_503_problem(
    vendor: VendorProfile, reconnect_after: None
) -> None:
    client = authenticate(APIClient(), vendor.user)
    _cut_own_connection()
    response = client.get(f"/api/v1/vendors/{vendor.user_id}/balance/")
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "1"
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert "Traceback" not in response.content.decode()


def test_a_served_tally_recovers_without_restart(vendor: VendorProfile) -> None:
    """Every connection of a running gunicorn cut at once (a PostgreSQL restart): requests
    answer 503 problem+json while broken connections are dropped, then 200 again, with no
    restart of Tally and never a 500."""
    token = str(RefreshToken.for_user(vendor.user).access_token)
    url = f"/api/v1/vendors/{vendor.user_id}/balance/"
    with psycopg.connect(**_admin_params(), autocommit=True) as admin:
        started = admin.execute("SELECT clock_timestamp()").fetchone()
    assert started is not None
    with live_server_run(web_workers=2) as base_url:
        assert _get(base_url + url, token)[0] == 200
        # Only the server's connections: those opened since it started. This process's own
        # (pooled) connections stay, or the tests after this one would inherit dead ones.
        with psycopg.connect(**_admin_params(), autocommit=True) as admin:
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_start > %s AND backend_type = 'client backend'",
                [started[0]],
            ).fetchone()
        assert cut is not None
        assert cut[0] >= 1
        answers = [_get(base_url + url, token) for _ in range(30)]
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert all(kind == "application/problem+json" for status, kind in answers if status == 503)
    assert statuses[-5:] == [200] * 5, statuses
