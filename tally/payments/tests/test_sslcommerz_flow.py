"""Paying through SSLCommerz end to end, against the local sandbox over real HTTP: a real
gunicorn receives the IPN and a real Celery worker validates it and settles the payment
once; forged and tampered notices change nothing or reject the payment; a sandbox that is
down is retried; a payment whose IPN never came is settled by the reconcile job."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tally.catalog.models import Variant
from tally.catalog.testing import variant_make
from tally.identity.models import User
from tally.identity.tests.factories import AdminFactory
from tally.ledger.models import Transfer
from tally.ledger.testing import assert_ledger_verifies
from tally.orders.models import Order, OrderStatus
from tally.orders.services import order_expire_unpaid
from tally.orders.testing import order_place_for_test
from tally.payments import services
from tally.payments.gateways.sslcommerz import QUERY_PATH, SESSION_PATH, VALIDATION_PATH
from tally.payments.ledger_vocabulary import ORDER_SETTLEMENT
from tally.payments.models import Payment, PaymentEvent, PaymentEventKind, PaymentStatus
from tally.payments.sslcommerz_sandbox import SslcommerzSandbox, sslcommerz_sandbox_run
from tally.payments.testing import payment_split_of
from tally.platform.testing import live_server
from tally.platform.testing.live_server import live_server_run
from tally.platform.testing.race import run_concurrently, wait_until

IPN_PATH = "/api/v1/payments/webhooks/sslcommerz/"


@dataclass
class Stack:
    base_url: str
    sandbox: SslcommerzSandbox


@contextlib.contextmanager
def _live_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The sandbox (a thread here), a gunicorn and a Celery worker configured for it. The
    web server's port is chosen first: the worker tells the gateway where to post the IPN."""
    with sslcommerz_sandbox_run() as sandbox:
        port = live_server.free_port()
        base_url = f"http://127.0.0.1:{port}"
        monkeypatch.setattr(live_server, "free_port", lambda: port)
        for name, value in {
            "PAYMENTS_CARD_GATEWAY": "sslcommerz",
            "SSLCOMMERZ_API_URL": sandbox.url,
            "SSLCOMMERZ_PUBLIC_BASE_URL": base_url,
            "PAYMENTS_GATEWAY_RETRY_BASE_SECONDS": "0.05",
        }.items():
            monkeypatch.setenv(name, value)
        with (
            override_settings(SSLCOMMERZ_API_URL=sandbox.url, SSLCOMMERZ_PUBLIC_BASE_URL=base_url),
            live_server_run(web_workers=3, celery_worker=True) as url,
        ):
            assert url == base_url
            yield Stack(base_url, sandbox)


def _order(*, stock: int = 5) -> tuple[Any, Variant]:
    first = variant_make(price=10_00, stock=stock)
    second = variant_make(price=25_50, stock=None)
    return order_place_for_test(lines=[(first, 2), (second, 1)]), first


def _pay_over_http(base_url: str, placed: Any) -> dict[str, Any]:
    """process-payment with a card; wait for the hosted page's URL on the payment."""
    token = {"Order-Token": placed.access_token}
    started = httpx.post(
        f"{base_url}/api/v1/orders/{placed.order.pk}/process-payment/",
        json={"method": "credit_card"},
        headers=token,
        timeout=30,
    )
    assert started.status_code == 202, started.text
    assert (started.json()["gateway"], started.json()["status"]) == ("sslcommerz", "initiated")
    url = f"{base_url}{started.headers['Location']}"

    def redirected() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(url, headers=token, timeout=30).json()
        return body if body["redirect_url"] else None

    return wait_until(redirected, timeout_seconds=30, message="no redirect_url")


def _status(payment_id: str) -> str:
    return Payment.objects.get(pk=payment_id).status


def _settlements(payment_id: str) -> int:
    return Transfer.objects.filter(reference=f"payment:{payment_id}", code=ORDER_SETTLEMENT).count()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
@override_settings(PAYMENTS_CARD_GATEWAY="sslcommerz")
def test_a_card_paid_on_the_hosted_page_is_captured_once_over_real_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    placed, _ = _order()
    racing, _ = _order()
    admin_user = cast(User, AdminFactory())
    with _live_stack(monkeypatch) as stack:
        sandbox = stack.sandbox

        # The buyer pays: the worker opened a session; the hosted page posts the IPN.
        payment = _pay_over_http(stack.base_url, placed)
        assert payment["status"] == "initiated"
        assert payment["redirect_url"].startswith(f"{sandbox.url}/EasyCheckOut/")
        assert payment["gateway_reference"] == payment["redirect_url"].rsplit("/", 1)[1]
        page = httpx.get(
            payment["redirect_url"],
            params={"outcome": "success"},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        assert page.status_code == 200, page.text
        assert page.json()["ipn"] == {"url": f"{stack.base_url}{IPN_PATH}", "result": 200}
        wait_until(lambda: _status(payment["id"]) == PaymentStatus.CAPTURED, timeout_seconds=30)

        # The buyer's browser comes back with the same signed fields: nothing new.
        fields = page.json()["fields"]
        back = httpx.post(page.json()["return_url"], data=fields, timeout=30)
        assert (back.status_code, back.json()["payment_status"]) == (200, "captured")
        assert back.json()["detail"] == "Paid: the order is confirmed."
        # A replayed IPN is a no-op.
        assert sandbox.deliver_ipn(fields) == 200

        # The same IPN of another payment, delivered 10 times at once, settles it once.
        other = _pay_over_http(stack.base_url, racing)
        held = sandbox.pay(other["gateway_reference"], "success", ipn=False)
        answers = run_concurrently(
            lambda: httpx.post(f"{stack.base_url}{IPN_PATH}", data=held, timeout=60), times=10
        )
        outcomes = [o.value.json()["outcome"] for o in answers if o.value is not None]
        # One queues the validation; the others find it queued (or already settled).
        assert len(outcomes) == 10, [o.error for o in answers]
        assert outcomes.count("queued") == 1
        assert set(outcomes) <= {"queued", "duplicate", "ignored"}
        wait_until(lambda: _status(other["id"]) == PaymentStatus.CAPTURED, timeout_seconds=30)

        # The worker renders the invoice; the guest fetches it with its token only.
        invoice_url = f"{stack.base_url}/api/v1/orders/{placed.order.pk}/invoice/"
        token = {"Order-Token": placed.access_token}

        def invoice() -> httpx.Response | None:
            answer = httpx.get(invoice_url, headers=token, timeout=30)
            return answer if answer.status_code == 200 else None

        pdf = wait_until(invoice, timeout_seconds=60, message="no invoice")
        assert pdf.headers["Content-Type"] == "application/pdf"
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert placed.order.number in text
        assert "45.50" in text
        assert httpx.get(invoice_url, timeout=30).status_code == 404

        # Delivered: an admin completes the order.
        admin = f"Bearer {RefreshToken.for_user(admin_user).access_token}"
        completed = httpx.post(
            f"{stack.base_url}/api/v1/orders/{placed.order.pk}/complete/",
            headers={"Authorization": admin},
            timeout=30,
        )
        assert (completed.status_code, completed.json()["status"]) == (200, "completed")

    captured = Payment.objects.get(pk=payment["id"])
    order = Order.objects.get(pk=placed.order.pk)
    assert order.status == OrderStatus.COMPLETED
    assert captured.gateway_reference == fields["bank_tran_id"]
    assert sum(payment_split_of(captured).values()) == order.total
    events = list(captured.events.values_list("kind", flat=True).order_by("id"))
    assert events.count(PaymentEventKind.WEBHOOK) == 1
    assert sandbox.calls.count(SESSION_PATH) == 2
    assert sandbox.calls.count(VALIDATION_PATH) == 2  # one per payment
    second = Payment.objects.get(pk=other["id"])
    assert Payment.objects.filter(order=racing.order, status=PaymentStatus.CAPTURED).count() == 1
    assert second.events.filter(kind=PaymentEventKind.WEBHOOK).count() == 1
    # One set of settlement transfers each: one per account credited.
    assert _settlements(second.pk) == len(payment_split_of(second)) == 3  # 2 vendors, the fee
    assert _settlements(captured.pk) == 3
    assert sum(payment_split_of(second).values()) == racing.order.total
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
@override_settings(PAYMENTS_CARD_GATEWAY="sslcommerz")
def test_a_forged_ipn_changes_nothing_and_a_tampered_amount_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forged_order, _ = _order()
    tampered_order, variant = _order(stock=5)
    assert Variant.objects.get(pk=variant.pk).stock == 3
    with _live_stack(monkeypatch) as stack:
        sandbox = stack.sandbox
        forged = _pay_over_http(stack.base_url, forged_order)
        sandbox.forge_next_ipn()
        page = httpx.get(
            forged["redirect_url"], params={"outcome": "success", "format": "json"}, timeout=30
        )
        assert page.json()["ipn"]["result"] == 400

        tampered = _pay_over_http(stack.base_url, tampered_order)
        sandbox.tamper_next_amount("1.00")
        page = httpx.get(
            tampered["redirect_url"], params={"outcome": "success", "format": "json"}, timeout=30
        )
        assert page.json()["ipn"]["result"] == 200
        wait_until(lambda: _status(tampered["id"]) == PaymentStatus.FAILED, timeout_seconds=30)

    assert _status(forged["id"]) == PaymentStatus.INITIATED
    assert Order.objects.get(pk=forged_order.order.pk).status == OrderStatus.PROCESSING
    assert not PaymentEvent.objects.filter(
        payment_id=forged["id"], kind=PaymentEventKind.WEBHOOK
    ).exists()
    rejected = Payment.objects.get(pk=tampered["id"])
    assert rejected.failure_reason == "amount_mismatch"
    assert Order.objects.get(pk=tampered_order.order.pk).status == OrderStatus.FAILED
    assert Variant.objects.get(pk=variant.pk).stock == 5  # released
    assert payment_split_of(rejected) == {}
    assert_ledger_verifies()


# --- with an in-process worker and the test client ------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[SslcommerzSandbox]:
    with (
        sslcommerz_sandbox_run() as running,
        override_settings(
            PAYMENTS_CARD_GATEWAY="sslcommerz",
            SSLCOMMERZ_API_URL=running.url,
            PAYMENTS_GATEWAY_RETRY_BASE_SECONDS=0.05,
        ),
    ):
        yield running


def _start(placed: Any) -> str:
    response = APIClient().post(
        f"/api/v1/orders/{placed.order.pk}/process-payment/",
        {"method": "debit_card"},
        format="json",
        HTTP_ORDER_TOKEN=placed.access_token,
    )
    assert response.status_code == 202, response.json()
    return str(response.json()["id"])


def _session_of(payment_id: str) -> str:
    return str(
        wait_until(
            lambda: Payment.objects.get(pk=payment_id).gateway_reference,
            timeout_seconds=30,
            message="no session opened",
        )
    )


def _ipn(fields: dict[str, str]) -> Any:
    return APIClient().post(IPN_PATH, fields, format="multipart")


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_down_at_initiate_is_retried_and_a_failed_card_leaves_the_order_payable(
    sandbox: SslcommerzSandbox, celery_worker: Any
) -> None:
    placed, variant = _order()
    sandbox.fail_next(2)

    first = _start(placed)
    session = _session_of(first)
    failed = sandbox.pay(session, "fail", ipn=False)
    assert _ipn(failed).json()["outcome"] == "queued"
    wait_until(lambda: _status(first) == PaymentStatus.FAILED, timeout_seconds=30)

    assert sandbox.calls.count(SESSION_PATH) == 3  # two 503s, then the session
    assert Payment.objects.get(pk=first).failure_reason == "card_declined"
    assert Order.objects.get(pk=placed.order.pk).status == OrderStatus.PENDING
    assert Variant.objects.get(pk=variant.pk).stock == 3  # still held for this order

    second = _start(placed)
    paid = sandbox.pay(_session_of(second), "success", ipn=False)
    assert _ipn(paid).json()["outcome"] == "queued"
    wait_until(lambda: _status(second) == PaymentStatus.CAPTURED, timeout_seconds=30)
    assert Order.objects.get(pk=placed.order.pk).status == OrderStatus.CONFIRMED
    # The first payment's failure notice again: the payment is settled, nothing to do.
    assert _ipn(failed).json()["outcome"] == "ignored"
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_a_payment_whose_ipn_never_came_is_settled_by_the_reconcile_job(
    sandbox: SslcommerzSandbox,
) -> None:
    paid_order, _ = _order()
    unpaid_order, variant = _order()
    paid, unpaid = _start(paid_order), _start(unpaid_order)
    for payment_id in (paid, unpaid):
        services.payment_initiate.apply(
            kwargs={"message_id": _initiate_job(payment_id), "payment_id": payment_id}
        )
    sandbox.pay(Payment.objects.get(pk=paid).gateway_reference, "success", ipn=False)
    Payment.objects.filter(pk__in=[paid, unpaid]).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )

    assert services.payment_reconcile() == 1
    assert services.payment_reconcile(older_than_seconds=0) == 0

    assert _status(paid) == PaymentStatus.CAPTURED
    assert Order.objects.get(pk=paid_order.order.pk).status == OrderStatus.CONFIRMED
    assert sum(payment_split_of(Payment.objects.get(pk=paid)).values()) == paid_order.order.total
    assert _status(unpaid) == PaymentStatus.INITIATED  # the buyer may still pay
    assert sandbox.calls.count(QUERY_PATH) == 3  # both, then the unpaid one again
    assert VALIDATION_PATH not in sandbox.calls

    # The buyer never pays: the session runs out, the payment is declined, and the order
    # (pending again) expires at its deadline, giving its stock back.
    sandbox.expire_sessions()
    assert services.payment_reconcile(older_than_seconds=0) == 1
    assert Payment.objects.get(pk=unpaid).failure_reason == "session_expired"
    assert Order.objects.get(pk=unpaid_order.order.pk).status == OrderStatus.PENDING
    order_expire_unpaid(now=timezone.now() + timedelta(days=1))
    assert Order.objects.get(pk=unpaid_order.order.pk).status == OrderStatus.CANCELLED
    assert Variant.objects.get(pk=variant.pk).stock == 5
    assert_ledger_verifies()


def _initiate_job(payment_id: str) -> int:
    from tally.platform.outbox.models import OutboxMessage

    return OutboxMessage.objects.get(
        task_name=services.INITIATE_TASK, payload__payment_id=payment_id
    ).pk
