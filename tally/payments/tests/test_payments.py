"""Paying orders: wallet, sandbox cards through a real Celery worker, cash confirmed by an
admin, and the reconcile job; the ledger split adds up and verify_ledger stays clean."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from tally.catalog.models import Variant
from tally.catalog.testing import variant_make
from tally.credit.testing import customer_wallet_balance
from tally.identity.models import CustomerProfile
from tally.identity.tests.factories import CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.testing import assert_ledger_verifies
from tally.offers.testing import customer_fund
from tally.orders.models import Order, OrderStatus
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_place_for_test
from tally.payments import services
from tally.payments.gateways import GatewayAnswer
from tally.payments.models import Payment, PaymentStatus
from tally.payments.services import PaymentRequest, payment_start
from tally.payments.testing import payment_split_of
from tally.platform.db import use_case_transaction
from tally.platform.outbox.callout import CallOutAttempt
from tally.platform.testing.race import run_concurrently, wait_until

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000000000000002"
CARD_TRANSIENT = "4000000000000119"


def _two_vendor_order(customer: CustomerProfile | None = None, *, stock: int = 5) -> Any:
    first = variant_make(price=10_00, stock=stock)
    second = variant_make(price=25_50, stock=None)
    return order_place_for_test(lines=[(first, 2), (second, 1)], customer=customer), first


def _pay(client: APIClient, order: Order, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"HTTP_ORDER_TOKEN": token} if token else {}
    return client.post(
        f"/api/v1/orders/{order.pk}/process-payment/", body, format="json", **headers
    )


@pytest.mark.django_db
@override_settings(
    PAYMENTS_COMMISSION_PERCENT="10", ORDER_TAX_RATE_PERCENT="5", ORDER_SHIPPING_FEE="3.00"
)
def test_a_wallet_payment_is_captured_and_split_between_vendors_commission_and_tax() -> None:
    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    placed, _ = _two_vendor_order(customer)
    order = placed.order
    assert (order.subtotal, order.shipping, order.tax, order.total) == (45_50, 3_00, 2_28, 50_78)

    response = _pay(authenticate(APIClient(), customer.user), order, {"method": "wallet"})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["order_status"], body["amount"]) == (
        "captured",
        "confirmed",
        "50.78",
    )
    assert response["Location"] == f"/api/v1/payments/{body['id']}/"
    assert customer_wallet_balance(customer) == 100_00 - 50_78
    split = payment_split_of(Payment.objects.get(pk=body["id"]))
    vendors = {item.vendor_id: item for item in order.items.all()}
    assert sum(split.values()) == order.total
    assert split["tax_collected"] == 2_28
    # 10 % of each line, and the shipping, to the platform; the rest to each line's vendor.
    assert split["platform_commission"] == 2_00 + 2_55 + 3_00
    assert sorted(v for k, v in split.items() if k.startswith("vendor:")) == [18_00, 22_95]
    assert len(vendors) == 2
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_wallet_without_enough_funds_pays_nothing_and_changes_nothing() -> None:
    customer = CustomerFactory()
    customer_fund(customer, 1_00)
    placed, variant = _two_vendor_order(customer)

    response = _pay(authenticate(APIClient(), customer.user), placed.order, {"method": "wallet"})

    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_funds"
    placed.order.refresh_from_db()
    assert (placed.order.status, placed.order.version) == (OrderStatus.PENDING, 1)
    assert not Payment.objects.exists()
    assert customer_wallet_balance(customer) == 1_00
    assert Variant.objects.get(pk=variant.pk).stock == 3


@pytest.mark.django_db
def test_a_guest_cannot_pay_from_a_wallet_and_needs_its_token_to_pay() -> None:
    placed, _ = _two_vendor_order()
    client = APIClient()

    assert (
        _pay(client, placed.order, {"method": "credit_card", "card_number": CARD_OK}).status_code
        == 404
    )
    wallet = _pay(client, placed.order, {"method": "wallet"}, token=placed.access_token)
    assert (wallet.status_code, wallet.json()["code"]) == (422, "wallet_requires_account")
    card = _pay(
        client,
        placed.order,
        {"method": "credit_card", "card_number": "4111111111111111"},
        token=placed.access_token,
    )
    assert (card.status_code, card.json()["code"]) == (422, "card_not_accepted")
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_paying_a_cancelled_order_is_refused() -> None:
    customer = CustomerFactory()
    placed, _ = _two_vendor_order(customer)
    client = authenticate(APIClient(), customer.user)
    assert client.post(f"/api/v1/orders/{placed.order.pk}/cancel/").status_code == 200

    response = _pay(client, placed.order, {"method": "credit_card", "card_number": CARD_OK})

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_payments_of_one_order_at_once_start_one() -> None:
    customer = CustomerFactory()
    placed, _ = _two_vendor_order(customer)

    def pay() -> Payment:
        access = order_get_for_actor(actor=customer.user, order_id=placed.order.pk)
        return payment_start(
            access=access, actor=customer.user, request=PaymentRequest("credit_card", CARD_OK)
        )

    outcomes = run_concurrently(pay, times=6)

    assert sum(o.error is None for o in outcomes) == 1
    assert {type(o.error).__name__ for o in outcomes if o.error} == {"InvalidStateError"}
    assert Payment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_card_is_charged_by_the_worker_and_the_order_confirmed(
    celery_worker: Any,
) -> None:
    placed, _ = _two_vendor_order()

    response = _pay(
        APIClient(),
        placed.order,
        {"method": "credit_card", "card_number": CARD_OK},
        token=placed.access_token,
    )

    assert response.status_code == 202, response.json()
    assert response.json()["card_last4"] == "4242"
    payment = Payment.objects.get(pk=response.json()["id"])
    wait_until(lambda: Payment.objects.get(pk=payment.pk).status == PaymentStatus.CAPTURED)
    assert Order.objects.get(pk=placed.order.pk).status == OrderStatus.CONFIRMED
    assert sum(payment_split_of(payment).values()) == placed.order.total
    detail = APIClient().get(
        f"/api/v1/payments/{payment.pk}/", HTTP_ORDER_TOKEN=placed.access_token
    )
    assert (detail.status_code, detail.json()["status"]) == (200, "captured")
    assert APIClient().get(f"/api/v1/payments/{payment.pk}/").status_code == 404
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
@override_settings(PAYMENTS_GATEWAY_RETRY_BASE_SECONDS=0.05)
def test_a_declined_card_leaves_the_order_payable_and_a_flaky_one_is_retried(
    celery_worker: Any,
) -> None:
    placed, variant = _two_vendor_order()
    token = placed.access_token

    declined = _pay(
        APIClient(),
        placed.order,
        {"method": "debit_card", "card_number": CARD_DECLINED},
        token=token,
    )
    wait_until(lambda: Payment.objects.get(pk=declined.json()["id"]).status == PaymentStatus.FAILED)
    assert Payment.objects.get(pk=declined.json()["id"]).failure_reason == "card_declined"
    assert Order.objects.get(pk=placed.order.pk).status == OrderStatus.PENDING
    assert Variant.objects.get(pk=variant.pk).stock == 3  # still reserved for this order

    retried = _pay(
        APIClient(),
        placed.order,
        {"method": "credit_card", "card_number": CARD_TRANSIENT},
        token=token,
    )
    wait_until(
        lambda: Payment.objects.get(pk=retried.json()["id"]).status == PaymentStatus.CAPTURED
    )
    assert Order.objects.get(pk=placed.order.pk).status == OrderStatus.CONFIRMED


@pytest.mark.django_db
def test_an_answer_with_another_amount_is_rejected_and_the_stock_released() -> None:
    placed, variant = _two_vendor_order()
    access = order_get_for_actor(
        actor=None, order_id=placed.order.pk, access_token=placed.access_token
    )
    payment = payment_start(
        access=access, actor=None, request=PaymentRequest("credit_card", CARD_OK)
    )

    with use_case_transaction():
        services.payment_apply_answer(
            payment=payment,
            answer=GatewayAnswer(outcome="captured", reference="x", amount=1, currency="USD"),
            actor=None,
        )

    payment.refresh_from_db()
    assert (payment.status, payment.failure_reason) == (PaymentStatus.FAILED, "amount_mismatch")
    assert Order.objects.get(pk=placed.order.pk).status == OrderStatus.FAILED
    assert Variant.objects.get(pk=variant.pk).stock == 5
    assert payment_split_of(payment) == {}


@pytest.mark.django_db
def test_cash_is_confirmed_by_an_admin_only(admin_client: APIClient) -> None:
    customer = CustomerFactory()
    placed, _ = _two_vendor_order(customer)
    client = authenticate(APIClient(), customer.user)
    started = _pay(client, placed.order, {"method": "cash"})
    assert (started.status_code, started.json()["status"]) == (202, "initiated")
    url = f"/api/v1/payments/{started.json()['id']}/confirm/"

    assert client.post(url, {}, format="json").status_code == 403
    assert (
        authenticate(APIClient(), VendorFactory().user).post(url, {}, format="json").status_code
        == 403
    )
    confirmed = admin_client.post(url, {"reference": "till 7"}, format="json")

    assert confirmed.status_code == 200, confirmed.json()
    assert (confirmed.json()["status"], confirmed.json()["order_status"]) == (
        "captured",
        "confirmed",
    )
    assert admin_client.post(url, {}, format="json").status_code == 409
    # Another cash payment confirmed with the same till reference: references need not differ.
    other, _ = _two_vendor_order(customer)
    second = _pay(client, other.order, {"method": "cash"}).json()["id"]
    again = admin_client.post(
        f"/api/v1/payments/{second}/confirm/", {"reference": "till 7"}, format="json"
    )
    assert again.status_code == 200, again.json()
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_a_worker_lost_after_the_gateways_answer_settles_once_through_the_reconcile_job() -> None:
    placed, _ = _two_vendor_order()
    access = order_get_for_actor(
        actor=None, order_id=placed.order.pk, access_token=placed.access_token
    )
    payment = payment_start(
        access=access, actor=None, request=PaymentRequest("credit_card", CARD_OK)
    )
    attempt = CallOutAttempt(message_id=1, attempt=1, max_attempts=5, idempotency_key="outbox-1")
    # The job called the gateway, then its worker died before settling.
    answer = services.payment_call_gateway(attempt, payment_id=str(payment.pk))
    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert services.payment_reconcile() == 1
    # The job redelivered later settles nothing twice.
    with use_case_transaction():
        services.payment_settle(attempt, answer, payment_id=str(payment.pk))
    assert services.payment_reconcile(older_than_seconds=0) == 0

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert sum(payment_split_of(payment).values()) == placed.order.total
    assert Order.objects.get(pk=placed.order.pk).status == OrderStatus.CONFIRMED
    assert_ledger_verifies()


@pytest.mark.django_db
def test_verify_ledger_finds_a_payment_captured_without_its_money() -> None:
    from tally.ledger.verification import ledger_verify

    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    placed, _ = _two_vendor_order(customer)
    _pay(authenticate(APIClient(), customer.user), placed.order, {"method": "wallet"})
    assert_ledger_verifies()
    # A card payment recorded as captured by hand, with no money moved: the books disagree.
    other, _ = _two_vendor_order()
    Payment.objects.create(
        order=other.order,
        method="credit_card",
        gateway="sandbox",
        status=PaymentStatus.CAPTURED,
        amount=other.order.total,
        currency="USD",
    )

    report = ledger_verify()

    failed = {check.name for check in report.checks if not check.ok}
    assert failed == {"payments_settled", "payments_clearing_balanced"}


@pytest.mark.django_db
def test_a_cash_payment_is_withdrawn_then_the_order_cancelled_and_its_stock_released() -> None:
    customer = CustomerFactory()
    placed, variant = _two_vendor_order(customer)
    client = authenticate(APIClient(), customer.user)
    started = _pay(client, placed.order, {"method": "bank_transfer"}).json()
    cancel_url = f"/api/v1/orders/{placed.order.pk}/cancel/"
    assert client.post(cancel_url).json()["code"] == "invalid_state"  # a payment is running

    withdrawn = client.post(f"/api/v1/payments/{started['id']}/withdraw/")
    cancelled = client.post(cancel_url)

    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "cancelled")
    assert withdrawn.json()["order_status"] == "pending"
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert Variant.objects.get(pk=variant.pk).stock == 5
    assert client.post(f"/api/v1/payments/{started['id']}/withdraw/").status_code == 409
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_card_payment_in_progress_cannot_be_withdrawn() -> None:
    placed, _ = _two_vendor_order()
    token = placed.access_token
    started = _pay(
        APIClient(), placed.order, {"method": "credit_card", "card_number": CARD_OK}, token=token
    )

    refused = APIClient().post(
        f"/api/v1/payments/{started.json()['id']}/withdraw/", HTTP_ORDER_TOKEN=token
    )
    stranger = APIClient().post(f"/api/v1/payments/{started.json()['id']}/withdraw/")

    assert (refused.status_code, refused.json()["code"]) == (409, "payment_in_progress")
    assert stranger.status_code == 404
    assert Payment.objects.get(pk=started.json()["id"]).status == PaymentStatus.INITIATED


@pytest.mark.django_db
def test_a_retried_wallet_payment_with_its_idempotency_key_pays_once() -> None:
    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    placed, _ = _two_vendor_order(customer)
    client = authenticate(APIClient(), customer.user)
    url = f"/api/v1/orders/{placed.order.pk}/process-payment/"

    first = client.post(url, {"method": "wallet"}, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    again = client.post(url, {"method": "wallet"}, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    other_body = client.post(url, {"method": "cash"}, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")

    assert first.status_code == 201
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["id"] == first.json()["id"]
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")
    assert Payment.objects.count() == 1
    assert customer_wallet_balance(customer) == 100_00 - placed.order.total
