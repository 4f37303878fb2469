"""A refusal (4xx) is logged at INFO, not WARNING: a storm of refusals must not become a
storm of log writes, nor hide the warnings that need someone. Faults (5xx) keep their level."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from tally.identity.models import VendorProfile


def _request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.request"]


@pytest.mark.django_db
def test_a_refused_sale_is_logged_at_info(
    vendor_client: APIClient, vendor: VendorProfile, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a vendor without credit; every logger enabled down to INFO
    caplog.set_level(logging.INFO)
    # when: it sells
    response = vendor_client.post(
        f"/api/v1/vendors/{vendor.user_id}/charges/",
        {"phone_number": "+14155550123", "amount": "1.00"},
        format="json",
    )
    # then: 422, logged once at INFO with its status
    assert response.status_code == 422
    records = _request_records(caplog)
    assert [(r.levelname, r.levelno, r.status_code) for r in records] == [
        ("INFO", logging.INFO, 422)
    ]


@pytest.mark.django_db
def test_refusals_are_not_written_when_the_level_is_warning(
    api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given: LOG_LEVEL=WARNING, as production runs busy web processes
    caplog.set_level(logging.WARNING)
    # when: an unauthenticated call and a malformed API key are refused
    assert api_client.get("/api/v1/auth/me/").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key nonsense")
    assert api_client.get("/api/v1/auth/me/").status_code == 401
    # then: nothing from django.request
    assert _request_records(caplog) == []


def test_server_errors_keep_their_level(caplog: pytest.LogCaptureFixture) -> None:
    # given: the logger as configured, at WARNING
    caplog.set_level(logging.WARNING)
    # when: Django logs a 500 and a 503 the way its handler does
    logger = logging.getLogger("django.request")
    logger.error("Internal Server Error: /x", extra={"status_code": 500})
    logger.warning("Service Unavailable: /y", extra={"status_code": 503})
    # then: both written, at their own levels
    assert [(r.levelname, r.status_code) for r in _request_records(caplog)] == [
        ("ERROR", 500),
        ("WARNING", 503),
    ]
