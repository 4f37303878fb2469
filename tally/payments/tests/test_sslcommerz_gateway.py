"""The SSLCommerz adapter against the local sandbox over real HTTP: the signature, the
session, validation and query APIs, refunds, and transient failures."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tally.payments.exceptions import GatewayUnavailableError, WebhookInvalidError
from tally.payments.gateways import GatewayPayment, gateway_get
from tally.payments.gateways.sslcommerz import (
    IPN_PATH,
    QUERY_PATH,
    SESSION_PATH,
    VALIDATION_PATH,
    SslcommerzGateway,
    payment_id_of,
    sslcommerz_signature,
    tran_id_of,
)
from tally.payments.sslcommerz_sandbox import SslcommerzSandbox, sslcommerz_sandbox_run
from tally.platform.testing.live_server import free_port

STORE_ID, STORE_PASSWORD = "teststore", "teststore@ssl"
PUBLIC = "http://tally.test"


@pytest.fixture
def sandbox() -> Iterator[SslcommerzSandbox]:
    with sslcommerz_sandbox_run(store_id=STORE_ID, store_password=STORE_PASSWORD) as running:
        yield running


def _gateway(sandbox: SslcommerzSandbox, **overrides: str) -> SslcommerzGateway:
    options = {
        "api_url": sandbox.url,
        "store_id": STORE_ID,
        "store_password": STORE_PASSWORD,
        "public_base_url": PUBLIC,
        **overrides,
    }
    return SslcommerzGateway(**options, timeout_seconds=5)


def _payment(amount: int = 50_78, currency: str = "USD") -> GatewayPayment:
    return GatewayPayment(
        payment_id=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        order_number="T-1001",
        amount=amount,
        currency=currency,
        method="credit_card",
        buyer_email="grace@example.com",
        buyer_name="Grace Guest",
    )


def _session(sandbox: SslcommerzSandbox, payment: GatewayPayment) -> str:
    answer = _gateway(sandbox).initiate(payment, idempotency_key="outbox-1")
    assert answer.outcome == "redirect", answer
    return answer.reference


def test_the_signature_is_the_md5_of_the_sorted_signed_fields_with_the_passwords_md5() -> None:
    # md5("qwerty") = d8578edf…; the signed string is
    # "amount=100.00&currency=BDT&status=VALID&store_passwd=<md5>&tran_id=abc&val_id=v1".
    data = {
        "tran_id": "abc",
        "val_id": "v1",
        "amount": "100.00",
        "currency": "BDT",
        "status": "VALID",
        "card_type": "not signed",
        "verify_key": "tran_id,val_id,amount,currency,status",
    }
    expected = hashlib.md5(  # noqa: S324  # nosec B324  # the gateway's protocol
        b"amount=100.00&currency=BDT&status=VALID&store_passwd="
        b"d8578edf8458ce06fbc5bb76a58c5ca4&tran_id=abc&val_id=v1"
    ).hexdigest()

    assert sslcommerz_signature(data, store_password="qwerty") == expected
    assert expected == "e7c91b70e3872536708e37af6701fad4"


def test_a_notification_is_verified_with_the_store_password_and_refused_otherwise(
    sandbox: SslcommerzSandbox,
) -> None:
    payment = _payment()
    fields = sandbox.pay(_session(sandbox, payment), "success", ipn=False)
    gateway = _gateway(sandbox)

    notice = gateway.verify_webhook(fields)

    assert (notice.payment_id, notice.status) == (payment.payment_id, "VALID")
    assert notice.reference == fields["val_id"] != ""
    refused = [
        {**fields, "amount": "1.00"},  # a signed field changed
        {**fields, "verify_sign": "0" * 32},
        {key: value for key, value in fields.items() if key != "verify_sign"},
        {**fields, "verify_key": "amount,currency"},  # signs neither tran_id nor status
        {**fields, "verify_key": ""},
    ]
    for data in refused:
        with pytest.raises(WebhookInvalidError):
            gateway.verify_webhook(data)
    with pytest.raises(WebhookInvalidError):
        _gateway(sandbox, store_password="another").verify_webhook(fields)
    with pytest.raises(WebhookInvalidError, match="another store"):
        _gateway(sandbox, store_id="another").verify_webhook(fields)
    # A field the gateway did not sign may be added; it is never trusted anyway.
    assert gateway.verify_webhook({**fields, "extra": "x"}).payment_id == payment.payment_id
    sandbox.forge_next_ipn()
    forged = sandbox.pay(_session(sandbox, _payment()), "success", ipn=False)
    with pytest.raises(WebhookInvalidError):
        gateway.verify_webhook(forged)


def test_the_tran_id_is_the_payment_id_in_at_most_30_characters() -> None:
    payment_id = str(uuid.uuid4())

    tran_id = tran_id_of(payment_id)

    assert len(tran_id) == 26
    assert tran_id.isalnum()
    assert payment_id_of(tran_id) == payment_id
    for other in ("", "abc", "ORDER-1", tran_id.upper(), tran_id + "a", "1" * 26):
        assert payment_id_of(other) is None


def test_initiate_opens_a_hosted_session_with_the_payments_amount_and_return_urls(
    sandbox: SslcommerzSandbox,
) -> None:
    payment = _payment()

    answer = _gateway(sandbox).initiate(payment, idempotency_key="outbox-1")

    assert answer.outcome == "redirect"
    session = sandbox.sessions[answer.reference]
    assert answer.redirect_url == f"{sandbox.url}/EasyCheckOut/{answer.reference}"
    assert session.fields["tran_id"] == tran_id_of(payment.payment_id)
    assert (session.fields["total_amount"], session.fields["currency"]) == ("50.78", "USD")
    assert session.fields["ipn_url"] == f"{PUBLIC}{IPN_PATH}"
    assert session.fields["success_url"] == f"{PUBLIC}/api/v1/payments/sslcommerz/success/"
    assert (session.fields["cus_email"], session.fields["product_name"]) == (
        "grace@example.com",
        "Order T-1001",
    )
    assert "store_passwd" not in answer.raw
    assert isinstance(gateway_get("sslcommerz"), SslcommerzGateway)


def test_a_refused_session_is_declined(sandbox: SslcommerzSandbox) -> None:
    wrong = _gateway(sandbox, store_password="wrong").initiate(_payment(), idempotency_key="k")
    too_small = _gateway(sandbox).initiate(_payment(5, "BDT"), idempotency_key="k")

    assert (wrong.outcome, wrong.reason) == ("declined", "session_refused")
    assert "Credential" in wrong.raw["failedreason"]
    assert too_small.outcome == "declined"
    assert sandbox.sessions == {}


def test_an_unreachable_or_failing_gateway_is_a_transient_failure(
    sandbox: SslcommerzSandbox,
) -> None:
    nowhere = SslcommerzGateway(
        api_url=f"http://127.0.0.1:{free_port()}",
        store_id=STORE_ID,
        store_password=STORE_PASSWORD,
        public_base_url=PUBLIC,
        timeout_seconds=2,
    )
    with pytest.raises(GatewayUnavailableError) as unreachable:
        nowhere.initiate(_payment(), idempotency_key="k")
    sandbox.fail_next(2)
    with pytest.raises(GatewayUnavailableError, match="503"):
        _gateway(sandbox).initiate(_payment(), idempotency_key="k")
    with pytest.raises(GatewayUnavailableError, match="503") as failed:
        _gateway(sandbox).validate(_payment(), reference="")

    # The store password travels in the validator's query string: never in an error.
    assert STORE_PASSWORD not in str(unreachable.value) + str(failed.value)
    assert sandbox.calls == [SESSION_PATH, QUERY_PATH]
    assert _gateway(sandbox).initiate(_payment(), idempotency_key="k").outcome == "redirect"


def test_a_paid_notice_validates_to_captured_in_the_sessions_currency(
    sandbox: SslcommerzSandbox,
) -> None:
    payment = _payment(50_78, "USD")
    fields = sandbox.pay(_session(sandbox, payment), "success", ipn=False)
    gateway = _gateway(sandbox)

    first = gateway.validate_notice(payment, val_id=fields["val_id"])
    again = gateway.validate_notice(payment, val_id=fields["val_id"])

    # The gateway settled in BDT (at the sandbox's 110.00); the session's currency is USD.
    assert (fields["currency"], fields["amount"], fields["currency_amount"]) == (
        "BDT",
        "5585.80",
        "50.78",
    )
    assert (first.outcome, first.amount, first.currency) == ("captured", 50_78, "USD")
    assert first.reference == fields["bank_tran_id"]
    assert (first.raw["status"], again.raw["status"]) == ("VALID", "VALIDATED")
    assert again.outcome == "captured"
    assert sandbox.calls.count(VALIDATION_PATH) == 2


def test_a_bdt_payment_is_compared_in_bdt(sandbox: SslcommerzSandbox) -> None:
    payment = _payment(1_250_00, "BDT")
    fields = sandbox.pay(_session(sandbox, payment), "success", ipn=False)

    answer = _gateway(sandbox).validate_notice(payment, val_id=fields["val_id"])

    assert (answer.amount, answer.currency) == (1_250_00, "BDT")


def test_a_tampered_amount_is_reported_as_paid_and_never_rounded(
    sandbox: SslcommerzSandbox,
) -> None:
    payment = _payment(50_78, "USD")
    sandbox.tamper_next_amount("1.00")
    fields = sandbox.pay(_session(sandbox, payment), "success", ipn=False)

    answer = _gateway(sandbox).validate_notice(payment, val_id=fields["val_id"])

    assert (answer.outcome, answer.amount, answer.currency) == ("captured", 1_00, "USD")


def test_the_transaction_query_tells_what_became_of_a_payment(
    sandbox: SslcommerzSandbox,
) -> None:
    gateway = _gateway(sandbox)
    unpaid, failed, cancelled, retried = (_payment() for _ in range(4))
    _session(sandbox, unpaid)
    sandbox.pay(_session(sandbox, failed), "fail", ipn=False)
    sandbox.pay(_session(sandbox, cancelled), "cancel", ipn=False)
    key = _session(sandbox, retried)
    sandbox.pay(key, "fail", ipn=False)
    sandbox.pay(key, "success", ipn=False)

    assert gateway.validate(unpaid, reference="").outcome == "pending"
    assert (gateway.validate(failed, reference="").outcome,) == ("declined",)
    assert gateway.validate(failed, reference="").reason == "card_declined"
    assert gateway.validate(cancelled, reference="").reason == "cancelled_by_buyer"
    paid = gateway.validate(retried, reference="")
    assert (paid.outcome, paid.amount, paid.currency) == ("captured", 50_78, "USD")
    # A notice without val_id (a failure), or with an unknown one, asks the same query.
    assert gateway.validate_notice(failed, val_id="").reason == "card_declined"
    assert gateway.validate_notice(unpaid, val_id="unknown").outcome == "pending"
    # Another payment's val_id never captures this one.
    other_val_id = next(t.val_id for t in sandbox.transactions if t.val_id)
    assert gateway.validate_notice(unpaid, val_id=other_val_id).outcome == "pending"
    # A session never paid runs out: declined, so the order can expire.
    sandbox.expire_sessions()
    assert gateway.validate(unpaid, reference="").reason == "session_expired"
    assert gateway.validate(retried, reference="").outcome == "captured"


def test_a_refund_is_sent_once_per_key_and_converted_at_the_transactions_rate(
    sandbox: SslcommerzSandbox,
) -> None:
    gateway = _gateway(sandbox)
    payment = _payment(50_78, "USD")
    sandbox.pay(_session(sandbox, payment), "success", ipn=False)
    transaction = sandbox.transactions[-1]
    reference = transaction.bank_tran_id

    part = gateway.refund(payment, reference=reference, amount=10_00, idempotency_key="outbox-7")
    repeated = gateway.refund(
        payment, reference=reference, amount=10_00, idempotency_key="outbox-7"
    )
    rest = gateway.refund(payment, reference=reference, amount=40_78, idempotency_key="outbox-8")
    too_much = gateway.refund(payment, reference=reference, amount=1, idempotency_key="outbox-9")

    assert (part.outcome, part.amount) == ("refunded", 10_00)
    assert repeated.reference == part.reference != ""
    assert rest.outcome == "refunded"
    assert (too_much.outcome, too_much.reason) == ("declined", "refund_refused")
    # 10.00 USD at 110.00 = 1100.00 BDT; then the rest of the 5585.80 BDT settled.
    assert sorted(r.amount for r in sandbox.refunds.values()) == [
        Decimal("1100.00"),
        Decimal("4485.80"),
    ]
    assert transaction.refunded == transaction.amount
    unpaid = _payment()
    assert gateway.refund(unpaid, reference="", amount=1, idempotency_key="x").outcome == (
        "declined"
    )
