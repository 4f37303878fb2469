"""Signed partner callbacks: a finished activation a partner started is POSTed to the
partner's callback URL (a real local HTTP server), signed as docs/partners.md documents,
retried with backoff, every attempt logged; given up after the last attempt.

The activations here are written directly in their final state (a posted reservation), as
an activation's settle step leaves them; the callback job is the subject.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings

from tally.identity.models import PartnerProfile
from tally.identity.tests.factories import PartnerFactory
from tally.offers.models import Activation, ActivationStatus
from tally.partners.callbacks import (
    CALLBACK_TASK_NAME,
    callback_backoff_seconds,
    callback_signature,
)
from tally.partners.models import CallbackAttempt
from tally.partners.testing import (
    PartnerServer,
    finished_activation_make,
    partner_server_run,
    signature_valid,
)
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import wait_until

SECRET = "partner-signing-secret"
GUIDE = Path(__file__).resolve().parents[3] / "docs" / "partners.md"


def _partner(server: PartnerServer) -> PartnerProfile:
    return cast(PartnerProfile, PartnerFactory(callback_url=server.url, signing_secret=SECRET))


def _attempts(activation: Activation) -> list[tuple[int, int | None, str]]:
    return list(
        CallbackAttempt.objects.filter(activation=activation)
        .order_by("attempt")
        .values_list("attempt", "status_code", "error")
    )


def _job(activation: Activation) -> OutboxMessage:
    return OutboxMessage.objects.get(
        task_name=CALLBACK_TASK_NAME, payload__activation_id=str(activation.id)
    )


def _counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("tally_partner_callbacks_total", {"outcome": outcome}) or 0.0


@pytest.fixture
def fast_retries(settings: Settings) -> None:
    settings.PARTNERS_CALLBACK_BACKOFF_SECONDS = 0.05
    settings.PARTNERS_CALLBACK_BACKOFF_MAX_SECONDS = 0.2


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # given
    body = b'{"event":"activation.finished"}'
    # when
    header = callback_signature(secret="s3cret", timestamp=1_700_000_000, body=body)
    # then
    assert header == (
        "t=1700000000,v1=41da79db75654872bb366738d2f1b3937ccf27dd202b14554fcf0a90e16545e7"
    )


def test_backoff_doubles_from_the_base_up_to_the_cap(settings: Settings) -> None:
    # given
    settings.PARTNERS_CALLBACK_BACKOFF_SECONDS = 10
    settings.PARTNERS_CALLBACK_BACKOFF_MAX_SECONDS = 60
    # when
    delays = [callback_backoff_seconds(attempt) for attempt in range(1, 6)]
    # then
    assert delays == [10.0, 20.0, 40.0, 60.0, 60.0]


@pytest.mark.django_db(transaction=True)
def test_a_finished_partner_activation_is_delivered_signed(celery_worker: Any) -> None:
    # given
    delivered_before = _counted("delivered")
    with partner_server_run() as server:
        partner = _partner(server)
        # when
        activation = finished_activation_make(partner=partner)
        server.wait_for_calls(1)
        wait_until(lambda: _job(activation).processed_at is not None)
    # then
    [call] = server.calls
    assert call.path == "/callbacks/tally"
    assert call.content_type == "application/json"
    assert signature_valid(SECRET, call.signature, call.body)
    assert not signature_valid("another-secret", call.signature, call.body)
    assert not signature_valid(SECRET, call.signature, call.body + b" ")
    job = _job(activation)
    assert call.delivery == f"outbox-{job.id}"
    document = json.loads(call.body)
    assert document["event"] == "activation.finished"
    assert document["activation"] == {
        "id": str(activation.id),
        "reference": activation.reference,
        "partner_reference": "order-1001",
        "status": "succeeded",
        "customer": str(activation.customer_id),
        "offer": str(activation.offer_id),
        "subscription": {
            "id": str(activation.subscription_id),
            "status": "active",
            "expires_at": document["activation"]["subscription"]["expires_at"],
        },
        "amount": "5.00",
        "currency": "USD",
        "failure_code": "",
        "failure_detail": "",
        "created_at": document["activation"]["created_at"],
        "completed_at": document["activation"]["completed_at"],
    }
    assert _attempts(activation) == [(1, 200, "")]
    assert job.failed_at is None
    assert job.attempts == 1
    # counted once the settle committed, an instant after the job shows processed
    wait_until(lambda: _counted("delivered") == delivered_before + 1)


@pytest.mark.django_db(transaction=True)
def test_a_partner_failing_twice_gets_the_callback_on_the_third_attempt(
    celery_worker: Any, fast_retries: None
) -> None:
    # given
    with partner_server_run() as server:
        partner = _partner(server)
        server.fail_next_calls(2)
        # when
        activation = finished_activation_make(partner=partner, status=ActivationStatus.FAILED)
        server.wait_for_calls(3)
        wait_until(lambda: _job(activation).processed_at is not None)
    # then
    assert [call.status for call in server.calls] == [500, 500, 200]
    assert all(signature_valid(SECRET, call.signature, call.body) for call in server.calls)
    assert len({call.delivery for call in server.calls}) == 1
    assert len({call.body for call in server.calls}) == 1
    assert json.loads(server.calls[2].body)["activation"]["status"] == "failed"
    assert json.loads(server.calls[2].body)["activation"]["failure_code"] == "provider_refused"
    assert _attempts(activation) == [
        (1, 500, "the partner answered HTTP 500"),
        (2, 500, "the partner answered HTTP 500"),
        (3, 200, ""),
    ]
    job = _job(activation)
    assert job.failed_at is None
    assert job.attempts == 3


@pytest.mark.django_db(transaction=True)
def test_a_partner_that_never_accepts_is_given_up_after_the_last_attempt(
    celery_worker: Any, fast_retries: None
) -> None:
    # given
    gave_up_before = _counted("gave_up")
    with partner_server_run() as server:
        partner = _partner(server)
        server.always_fail = True
        # when
        activation = finished_activation_make(partner=partner)
        wait_until(lambda: _job(activation).processed_at is not None, timeout_seconds=60)
    # then
    job = _job(activation)
    assert job.failed_at is not None
    assert job.attempts == 8
    assert job.last_error == "CallbackDeliveryError: the partner answered HTTP 500"
    assert len(server.calls) == 8
    assert _attempts(activation) == [
        (attempt, 500, "the partner answered HTTP 500") for attempt in range(1, 9)
    ]
    wait_until(lambda: _counted("gave_up") == gave_up_before + 1)


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_partner_is_logged_with_no_status_and_retried(
    celery_worker: Any, fast_retries: None
) -> None:
    # given: a partner whose server is gone (nothing listens on its port any more)
    with partner_server_run() as server:
        partner = _partner(server)
    # when
    activation = finished_activation_make(partner=partner)
    wait_until(lambda: CallbackAttempt.objects.filter(activation=activation).count() >= 2)
    # then
    first, second = CallbackAttempt.objects.filter(activation=activation).order_by("attempt")[:2]
    assert (first.attempt, first.status_code, first.url) == (1, None, server.url)
    assert first.error.startswith("ConnectError")
    assert (second.attempt, second.status_code) == (2, None)


@pytest.mark.django_db
def test_no_callback_for_an_activation_no_partner_started() -> None:
    # given
    before = OutboxMessage.objects.filter(task_name=CALLBACK_TASK_NAME).count()
    # when
    finished_activation_make(partner=None)
    # then
    assert OutboxMessage.objects.filter(task_name=CALLBACK_TASK_NAME).count() == before == 0


@pytest.mark.django_db
def test_no_callback_for_a_partner_without_a_callback_url() -> None:
    # given
    partner = PartnerFactory(callback_url="")
    # when
    finished_activation_make(partner=partner)
    # then
    assert OutboxMessage.objects.filter(task_name=CALLBACK_TASK_NAME).count() == 0


def test_the_guides_verification_sample_accepts_tallys_signature_and_nothing_else() -> None:
    # given: the Python sample and the known answer of docs/partners.md, as a partner reads them
    guide = GUIDE.read_text()
    sample = guide.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    # The guide's own code, run as a partner would paste it: the doc cannot drift from Tally.
    exec(compile(sample, "docs/partners.md", "exec"), namespace)  # noqa: S102  # nosec B102  # the repository's own guide
    verify = namespace["tally_signature_valid"]
    body = b'{"event":"activation.finished","activation":{"status":"succeeded"}}'
    now = int(time.time())
    # when
    header = callback_signature(secret=SECRET, timestamp=now, body=body)
    stale = callback_signature(secret=SECRET, timestamp=now - 301, body=body)
    known = callback_signature(
        secret="s3cret", timestamp=1_700_000_000, body=b'{"event":"activation.finished"}'
    )
    # then
    assert verify(SECRET, header, body) is True
    assert verify(SECRET, header, body + b"\n") is False
    assert verify("another-secret", header, body) is False
    assert verify(SECRET, stale, body) is False
    assert verify(SECRET, "v1=abc", body) is False
    assert known.split("v1=")[1] in guide
