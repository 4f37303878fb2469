"""/metrics: open in development and tests, behind METRICS_TOKEN where it is set (production
requires it: test_production_settings)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tally.platform.tests.test_errors import assert_problem

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789abcdef"


def test_metrics_are_open_without_a_configured_token() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize("authorization", [None, "", "Basic " + TOKEN, "Bearer", TOKEN])
def test_metrics_without_the_bearer_token_are_a_401(authorization: str | None) -> None:
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client().get("/metrics", **headers)
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"django_http" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize("presented", [TOKEN[:-1], TOKEN + "x", "x" * len(TOKEN)])
def test_metrics_with_another_token_are_a_403(presented: str) -> None:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {presented}")
    assert_problem(response, 403, "permission_denied")
    assert b"django_http" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_with_the_bearer_token_are_served() -> None:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content
