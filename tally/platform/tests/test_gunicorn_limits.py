"""What a real gunicorn (config/gunicorn.py) does with oversized request headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tally.platform.testing.live_server import live_server_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def base_url(django_db_setup: None) -> Iterator[str]:
    with live_server_run(web_workers=2) as url:
        yield url


def test_a_10_kb_authorization_header_reaches_the_app_and_is_a_401_problem(
    base_url: str,
) -> None:
    token = "x" * 10 * 1024
    response = httpx.get(
        f"{base_url}/api/v1/vendors/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


def test_a_header_over_16_kb_is_refused_by_gunicorn_before_the_app(base_url: str) -> None:
    # The documented bound: the proxy in front refuses such requests first.
    token = "x" * 17 * 1024
    response = httpx.get(
        f"{base_url}/api/v1/vendors/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 431
