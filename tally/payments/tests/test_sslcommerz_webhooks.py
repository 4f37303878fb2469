"""The SSLCommerz IPN and return views (Django test client): a verified notice is recorded
once with its validation job; anything else is a clean 4xx that writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from tally.catalog.testing import variant_make
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_place_for_test
from tally.payments.gateways.sslcommerz import SslcommerzGateway, tran_id_of
from tally.payments.models import Payment, PaymentEvent, PaymentEventKind, PaymentStatus
from tally.payments.services import PaymentRequest, gateway_payment_of, payment_start
from tally.payments.sslcommerz_jobs import VALIDATE_TASK
from tally.payments.sslcommerz_sandbox import SslcommerzSandbox, sslcommerz_sandbox_run
from tally.platform.outbox.models import OutboxMessage

IPN_URL = "/api/v1/payments/webhooks/sslcommerz/"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def sandbox() -> Iterator[SslcommerzSandbox]:
    with (
        sslcommerz_sandbox_run() as running,
        override_settings(PAYMENTS_CARD_GATEWAY="sslcommerz", SSLCOMMERZ_API_URL=running.url),
    ):
        yield running


def _payment(method: str = "credit_card") -> Payment:
    placed = order_place_for_test(lines=[(variant_make(price=12_50, stock=3), 2)])
    access = order_get_for_actor(
        actor=None, order_id=placed.order.pk, access_token=placed.access_token
    )
    return payment_start(access=access, actor=None, request=PaymentRequest(method))


def _paid_fields(sandbox: SslcommerzSandbox, payment: Payment, outcome: str = "success") -> Any:
    """The signed fields the gateway posts once the buyer paid (the IPN held back)."""
    answer = SslcommerzGateway().initiate(gateway_payment_of(payment), idempotency_key="k")
    return sandbox.pay(answer.reference, outcome, ipn=False)


def _post(client: APIClient, fields: dict[str, str], url: str = IPN_URL) -> Any:
    from urllib.parse import urlencode

    return client.post(url, urlencode(fields), content_type=FORM)


def _validation_jobs() -> int:
    return OutboxMessage.objects.filter(task_name=VALIDATE_TASK).count()


def _refused_total() -> float:
    return REGISTRY.get_sample_value("tally_payment_webhooks_refused_total", {"source": "ipn"}) or 0


@pytest.mark.django_db
def test_a_verified_ipn_is_recorded_once_with_one_validation_job(
    sandbox: SslcommerzSandbox,
) -> None:
    payment = _payment()
    fields = _paid_fields(sandbox, payment)
    client = APIClient()

    first = _post(client, fields)
    replayed = _post(client, fields)

    assert (first.status_code, first.json()) == (
        200,
        {"outcome": "queued", "payment_id": str(payment.pk)},
    )
    assert (replayed.status_code, replayed.json()["outcome"]) == (200, "duplicate")
    events = PaymentEvent.objects.filter(payment=payment, kind=PaymentEventKind.WEBHOOK)
    assert [e.payload["val_id"] for e in events] == [fields["val_id"]]
    assert events[0].payload["source"] == "ipn"
    assert events[0].payload["verify_sign"] == fields["verify_sign"]
    job = OutboxMessage.objects.get(task_name=VALIDATE_TASK)
    assert job.payload == {"payment_id": str(payment.pk), "val_id": fields["val_id"]}
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.CAPTURED)
    settled = _post(client, fields)
    assert (settled.status_code, settled.json()["outcome"]) == (200, "ignored")
    assert _validation_jobs() == 1


@pytest.mark.django_db
def test_a_forged_ipn_is_refused_and_writes_nothing(sandbox: SslcommerzSandbox) -> None:
    payment = _payment()
    sandbox.forge_next_ipn()
    forged = _paid_fields(sandbox, payment)
    genuine_fields = {**forged}
    before = _refused_total()
    client = APIClient()

    responses = [
        _post(client, forged),
        _post(client, {key: v for key, v in forged.items() if key != "verify_sign"}),
        _post(client, {}),
        client.post(IPN_URL, genuine_fields, format="json"),  # not a form
    ]

    assert [r.status_code for r in responses] == [400, 400, 400, 415]
    assert responses[0]["Content-Type"].startswith("application/problem+json")
    assert responses[0].json()["code"] == "webhook_invalid"
    assert responses[3].json()["code"] == "unsupported_media_type"
    assert not PaymentEvent.objects.filter(kind=PaymentEventKind.WEBHOOK).exists()
    assert _validation_jobs() == 0
    assert _refused_total() == before + 3
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.INITIATED


@pytest.mark.django_db
def test_an_ipn_for_no_payment_of_this_gateway_is_a_404(sandbox: SslcommerzSandbox) -> None:
    payment = _payment()
    fields = _paid_fields(sandbox, payment)
    cash = _payment("cash")
    client = APIClient()
    session = sandbox.session_for(fields["tran_id"])
    assert session is not None

    def resigned(tran_id: str) -> dict[str, str]:
        # The gateway signs whatever tran_id the session was opened with.
        session.fields["tran_id"] = tran_id
        session.closed = False
        return sandbox.pay(session.sessionkey, "success", ipn=False)

    unknown = _post(client, resigned(tran_id_of(uuid.uuid4())))
    not_ours = _post(client, resigned("ORDER-1001"))
    other_gateway = _post(client, resigned(tran_id_of(cash.pk)))

    assert [r.status_code for r in (unknown, not_ours, other_gateway)] == [404, 404, 404]
    assert unknown.json()["code"] == "not_found"
    assert not PaymentEvent.objects.filter(kind=PaymentEventKind.WEBHOOK).exists()


@pytest.mark.django_db
def test_the_buyers_return_is_verified_recorded_like_the_ipn_and_shows_the_status(
    sandbox: SslcommerzSandbox,
) -> None:
    payment = _payment()
    fields = _paid_fields(sandbox, payment)
    client = APIClient()

    back = _post(client, fields, "/api/v1/payments/sslcommerz/success/")
    ipn = _post(client, fields)
    looked_up = client.get("/api/v1/payments/sslcommerz/success/", {"tran_id": fields["tran_id"]})
    forged = _post(client, {**fields, "amount": "1.00"}, "/api/v1/payments/sslcommerz/success/")
    unknown = client.get("/api/v1/payments/sslcommerz/fail/", {"tran_id": "nope"})

    assert back.status_code == 200, back.json()
    assert back.json() == {
        "outcome": "success",
        "payment_id": str(payment.pk),
        "payment_status": "initiated",
        "payment_url": f"/api/v1/payments/{payment.pk}/",
        "detail": "Thank you: the payment is being confirmed with the gateway.",
    }
    assert ipn.json()["outcome"] == "duplicate"
    assert looked_up.status_code == 200
    assert (forged.status_code, unknown.status_code) == (400, 404)
    assert _validation_jobs() == 1
    event = PaymentEvent.objects.get(payment=payment, kind=PaymentEventKind.WEBHOOK)
    assert event.payload["source"] == "success"


@pytest.mark.django_db
def test_a_failed_and_a_cancelled_notice_are_queued_for_the_transaction_query(
    sandbox: SslcommerzSandbox,
) -> None:
    payment = _payment()
    answer = SslcommerzGateway().initiate(gateway_payment_of(payment), idempotency_key="k")
    failed = sandbox.pay(answer.reference, "fail", ipn=False)
    cancelled = sandbox.pay(answer.reference, "cancel", ipn=False)
    client = APIClient()

    outcomes = [_post(client, f).json()["outcome"] for f in (failed, failed, cancelled)]

    assert "val_id" not in failed
    assert outcomes == ["queued", "duplicate", "queued"]
    jobs = OutboxMessage.objects.filter(task_name=VALIDATE_TASK)
    assert [job.payload["val_id"] for job in jobs] == ["", ""]
