"""Refunds: full, partial and per line; to the wallet or back through the gateway (a real
Celery worker for cards); the split reversed exactly; never more than captured, even when
refunds race; who may refund; verify_ledger stays clean."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.catalog.testing import variant_make
from tally.credit.testing import customer_wallet_balance, owned_balance
from tally.identity.models import CustomerProfile, User
from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger import services as ledger
from tally.ledger.models import Transfer, TransferKind
from tally.ledger.testing import ADJUSTMENT, ISSUANCE, assert_ledger_verifies
from tally.offers.testing import customer_fund
from tally.orders.models import Order, OrderItem, OrderStatus
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_place_for_test
from tally.payments import services
from tally.payments.exceptions import (
    GatewayUnavailableError,
    RefundExceedsCapturedError,
    RefundExceedsLineError,
)
from tally.payments.gateways import GatewayAnswer
from tally.payments.gateways.sandbox import SandboxGateway
from tally.payments.ledger_vocabulary import ORDER_REFUND, VENDOR_EARNINGS
from tally.payments.lock_objects import payment_lock
from tally.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundLine,
    RefundStatus,
)
from tally.payments.refunds import (
    RefundLineRequest,
    RefundRequest,
    refund_call_gateway,
    refund_create,
    refund_give_up,
    refund_settle,
)
from tally.payments.services import PaymentRequest, payment_confirm_manual, payment_start
from tally.payments.testing import payment_split_of
from tally.platform.db import use_case_transaction
from tally.platform.outbox.callout import CallOutAttempt
from tally.platform.testing.race import run_concurrently, wait_until

CARD_OK = "4242 4242 4242 4242"
ATTEMPT = CallOutAttempt(message_id=1, attempt=1, max_attempts=5, idempotency_key="outbox-1")


@pytest.fixture(autouse=True)
def _rates(settings: Any) -> None:
    # 45.50 of lines (20.00 from one vendor, 25.50 from another) + 3.00 shipping + 2.28 tax.
    settings.PAYMENTS_COMMISSION_PERCENT = "10"
    settings.ORDER_TAX_RATE_PERCENT = "5"
    settings.ORDER_SHIPPING_FEE = "3.00"


@dataclass
class Paid:
    order: Order
    payment: Payment
    customer: CustomerProfile | None
    token: str | None
    first: OrderItem  # 2 x 10.00 from one vendor (18.00 to it, 2.00 commission)
    second: OrderItem  # 1 x 25.50 from another (22.95 to it, 2.55 commission)

    @property
    def client(self) -> APIClient:
        """The buyer's client (a guest: with its token in every request)."""
        if self.customer is not None:
            return authenticate(APIClient(), self.customer.user)
        client = APIClient()
        client.credentials(HTTP_ORDER_TOKEN=self.token)
        return client

    def vendor_user(self, item: OrderItem) -> User:
        return User.objects.get(pk=item.vendor_id)

    def fresh(self) -> tuple[Order, Payment]:
        return Order.objects.get(pk=self.order.pk), Payment.objects.get(pk=self.payment.pk)


def _placed(customer: CustomerProfile | None) -> Any:
    first = variant_make(price=10_00, stock=5)
    second = variant_make(price=25_50, stock=None)
    return order_place_for_test(lines=[(first, 2), (second, 1)], customer=customer), first


def _paid(placed: Any, first_variant: Any, payment: Payment, customer: Any) -> Paid:
    items = {item.variant_id: item for item in placed.order.items.all()}
    first = items.pop(first_variant.pk)
    (second,) = items.values()
    order = Order.objects.get(pk=placed.order.pk)
    return Paid(order, payment, customer, placed.access_token, first, second)


def _paid_by_wallet(funds: int = 100_00) -> Paid:
    customer = CustomerFactory()
    customer_fund(customer, funds)
    placed, first = _placed(customer)
    access = order_get_for_actor(actor=customer.user, order_id=placed.order.pk)
    payment = payment_start(access=access, actor=customer.user, request=PaymentRequest("wallet"))
    return _paid(placed, first, payment, customer)


def _paid_by_card(*, guest: bool = False) -> Paid:
    customer = None if guest else CustomerFactory()
    placed, first = _placed(customer)
    actor = None if customer is None else customer.user
    access = order_get_for_actor(
        actor=actor, order_id=placed.order.pk, access_token=placed.access_token
    )
    payment = payment_start(
        access=access, actor=actor, request=PaymentRequest("credit_card", CARD_OK)
    )
    with use_case_transaction():
        services.payment_apply_answer(
            payment=payment_lock(payment_id=payment.pk),
            answer=GatewayAnswer(
                outcome="captured",
                reference=f"sbx_{payment.pk.hex}",
                amount=payment.amount,
                currency=payment.currency,
            ),
            actor=None,
        )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    return _paid(placed, first, payment, customer)


def _net(payment: Payment) -> dict[str, int]:
    """What each account keeps of the payment's split: settled less given back (posted)."""
    net = defaultdict(int, payment_split_of(payment))
    transfers = Transfer.objects.filter(
        reference=f"payment:{payment.pk}",
        code=ORDER_REFUND,
        kind__in=(TransferKind.IMMEDIATE, TransferKind.POST_PENDING),
    ).select_related("debit_account", "credit_account")
    for transfer in transfers:
        for account, sign in ((transfer.debit_account, -1), (transfer.credit_account, 1)):
            name = f"vendor:{account.owner_id}" if account.kind == VENDOR_EARNINGS else account.kind
            if name in net:
                net[name] += sign * transfer.amount
    return dict(net)


def _snapshot(paid: Paid) -> tuple[Any, ...]:
    order, payment = paid.fresh()
    return (
        order.status,
        order.version,
        payment.status,
        payment.refunded_amount,
        Refund.objects.count(),
        RefundLine.objects.count(),
        Transfer.objects.filter(code=ORDER_REFUND).count(),
        customer_wallet_balance(paid.customer) if paid.customer else None,
        _net(payment),
    )


def _refund(client: APIClient, order: Order, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"/api/v1/orders/{order.pk}/refund/", body or {}, format="json")


def _admin() -> APIClient:
    return authenticate(APIClient(), AdminFactory())


def _line(item: OrderItem, amount: str | None = None) -> dict[str, str]:
    return {"item_id": str(item.pk)} | ({"amount": amount} if amount is not None else {})


# --- wallet: full and partial ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_full_refund_of_a_wallet_payment_gives_everything_back() -> None:
    paid = _paid_by_wallet()
    assert customer_wallet_balance(paid.customer) == 100_00 - 50_78

    response = _refund(_admin(), paid.order, {"reason": "customer changed their mind"})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"] == f"/api/v1/refunds/{body['id']}/"
    assert (body["status"], body["destination"], body["amount"], body["currency"]) == (
        "succeeded",
        "original",
        "50.78",
        "USD",
    )
    assert (body["order_status"], body["payment_status"], body["shipping_and_tax"]) == (
        "refunded",
        "refunded",
        "5.28",
    )
    # The lines as the order shows them.
    shown = paid.client.get(f"/api/v1/orders/{paid.order.pk}/").json()["items"]
    assert [(line["item_id"], line["amount"]) for line in body["lines"]] == [
        (item["id"], item["line_total"]) for item in shown
    ]
    assert customer_wallet_balance(paid.customer) == 100_00
    order, payment = paid.fresh()
    assert (order.status, order.version) == (OrderStatus.REFUNDED, paid.order.version + 1)
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, 50_78)
    assert set(_net(payment).values()) == {0}
    assert owned_balance(paid.first.vendor_id, VENDOR_EARNINGS) == 0
    assert owned_balance(paid.second.vendor_id, VENDOR_EARNINGS) == 0
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_partial_refund_then_the_rest() -> None:
    paid = _paid_by_wallet()
    admin = _admin()

    partial = _refund(admin, paid.order, {"amount": "10.00", "destination": "wallet"})

    assert partial.status_code == 201, partial.json()
    body = partial.json()
    assert (body["amount"], body["order_status"], body["payment_status"]) == (
        "10.00",
        "partially_refunded",
        "partially_refunded",
    )
    # Spread over what is left of each line and of shipping + tax (20.00, 25.50, 5.28).
    shares = {line["item_id"]: line["amount"] for line in body["lines"]}
    assert shares == {str(paid.first.pk): "3.94", str(paid.second.pk): "5.02"}
    assert body["shipping_and_tax"] == "1.04"
    assert customer_wallet_balance(paid.customer) == 100_00 - 50_78 + 10_00
    net = _net(paid.payment)
    assert sum(net.values()) == 50_78 - 10_00
    # The vendors give back 90 % of their lines' share, the tax account 2.28/5.28 of 1.04.
    assert net[f"vendor:{paid.first.vendor_id}"] == 18_00 - 3_55
    assert net[f"vendor:{paid.second.vendor_id}"] == 22_95 - 4_52
    assert net["tax_collected"] == 2_28 - 45
    second = _refund(admin, paid.order, {"amount": "5.00"})
    assert (second.status_code, second.json()["order_status"]) == (201, "partially_refunded")
    assert Order.objects.get(pk=paid.order.pk).version == paid.order.version + 1

    rest = _refund(admin, paid.order)

    assert rest.status_code == 201, rest.json()
    assert (rest.json()["amount"], rest.json()["order_status"]) == ("35.78", "refunded")
    order, payment = paid.fresh()
    assert (order.status, order.version) == (OrderStatus.REFUNDED, paid.order.version + 2)
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, 50_78)
    assert set(_net(payment).values()) == {0}
    assert customer_wallet_balance(paid.customer) == 100_00
    again = _refund(admin, paid.order, {"amount": "0.01"})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_refund_beyond_the_captured_amount_is_refused_and_changes_nothing() -> None:
    paid = _paid_by_wallet()
    admin = _admin()
    before = _snapshot(paid)

    response = _refund(admin, paid.order, {"amount": "50.79"})

    assert response.status_code == 422
    assert (response.json()["code"], response.json()["refundable"]) == (
        "refund_exceeds_captured",
        "50.78",
    )
    assert _snapshot(paid) == before
    assert _refund(admin, paid.order, {"amount": "40.00"}).status_code == 201
    after_first = _snapshot(paid)
    beyond = _refund(admin, paid.order, {"amount": "10.79"})
    assert (beyond.status_code, beyond.json()["refundable"]) == (422, "10.78")
    assert _snapshot(paid) == after_first
    assert _refund(admin, paid.order, {"amount": "10.78"}).status_code == 201
    assert_ledger_verifies()


# --- lines -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lines_are_refunded_up_to_their_total() -> None:
    paid = _paid_by_wallet()
    admin = _admin()

    first = _refund(admin, paid.order, {"lines": [_line(paid.first, "15.00")]})

    assert first.status_code == 201, first.json()
    assert (first.json()["amount"], first.json()["shipping_and_tax"]) == ("15.00", "0.00")
    net = _net(paid.payment)
    assert net[f"vendor:{paid.first.vendor_id}"] == 18_00 - 13_50
    assert net[f"vendor:{paid.second.vendor_id}"] == 22_95
    assert net["platform_commission"] == 7_55 - 1_50
    assert net["tax_collected"] == 2_28
    before = _snapshot(paid)
    beyond = _refund(admin, paid.order, {"lines": [_line(paid.first, "5.01")]})
    assert beyond.status_code == 422
    assert (beyond.json()["code"], beyond.json()["item_id"], beyond.json()["refundable"]) == (
        "refund_exceeds_line",
        str(paid.first.pk),
        "5.00",
    )
    # The same with a line that fits: nothing of either is refunded.
    both = _refund(admin, paid.order, {"lines": [_line(paid.second), _line(paid.first, "5.01")]})
    assert both.json()["code"] == "refund_exceeds_line"
    assert _snapshot(paid) == before

    # Without an amount: what is left of each line.
    rest = _refund(admin, paid.order, {"lines": [_line(paid.first), _line(paid.second)]})

    assert rest.status_code == 201, rest.json()
    assert rest.json()["amount"] == "30.50"
    assert rest.json()["order_status"] == "partially_refunded"
    net = _net(paid.payment)
    assert net[f"vendor:{paid.first.vendor_id}"] == 0
    assert net[f"vendor:{paid.second.vendor_id}"] == 0
    assert net["platform_commission"] == 3_00  # the shipping
    empty = _refund(admin, paid.order, {"lines": [_line(paid.first)]})
    assert (empty.status_code, empty.json()["refundable"]) == (422, "0.00")
    # A whole-order refund gives back the shipping and the tax that are left.
    final = _refund(admin, paid.order)
    assert (final.json()["amount"], final.json()["shipping_and_tax"]) == ("5.28", "5.28")
    assert set(_net(paid.payment).values()) == {0}
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_line_of_another_order_or_a_bad_body_is_refused() -> None:
    paid = _paid_by_wallet()
    other = _paid_by_wallet()
    admin = _admin()
    before = _snapshot(paid)

    unknown = _refund(admin, paid.order, {"lines": [_line(other.first, "1.00")]})
    both = _refund(admin, paid.order, {"amount": "1.00", "lines": [_line(paid.first, "1.00")]})
    twice = _refund(admin, paid.order, {"lines": [_line(paid.first), _line(paid.first)]})
    zero = _refund(admin, paid.order, {"amount": "0.00"})
    place = _refund(admin, paid.order, {"amount": "1.001"})
    destination = _refund(admin, paid.order, {"destination": "cash"})

    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_line")
    for response in (both, twice, zero, place, destination):
        assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert _snapshot(paid) == before


# --- states --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unpaid_order_is_not_refunded() -> None:
    customer = CustomerFactory()
    pending, _ = _placed(customer)
    paying, _ = _placed(customer)
    payment_start(
        access=order_get_for_actor(actor=customer.user, order_id=paying.order.pk),
        actor=customer.user,
        request=PaymentRequest("credit_card", CARD_OK),
    )
    cancelled, _ = _placed(customer)
    client = authenticate(APIClient(), customer.user)
    assert client.post(f"/api/v1/orders/{cancelled.order.pk}/cancel/").status_code == 200
    admin = _admin()

    for placed, state in ((pending, "pending"), (paying, "processing"), (cancelled, "cancelled")):
        response = _refund(admin, placed.order)
        assert response.status_code == 409, response.json()
        assert (response.json()["code"], response.json()["current_status"]) == (
            "invalid_state",
            state,
        )
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_a_guest_order_is_refunded_to_its_card_not_a_wallet() -> None:
    paid = _paid_by_card(guest=True)
    before = _snapshot(paid)

    response = _refund(_admin(), paid.order, {"destination": "wallet"})

    assert (response.status_code, response.json()["code"]) == (422, "wallet_requires_account")
    assert _snapshot(paid) == before


@pytest.mark.django_db
def test_a_vendor_whose_earnings_were_paid_out_cannot_refund() -> None:
    paid = _paid_by_wallet()
    vendor = paid.vendor_user(paid.first)
    with use_case_transaction():
        ledger.transfer_create(
            debit_account=ledger.account_get_or_create(owner=vendor, kind=VENDOR_EARNINGS),
            credit_account=ledger.account_system(kind=ISSUANCE),
            amount_minor=17_00,
            code=ADJUSTMENT,
        )
    before = _snapshot(paid)

    response = _refund(
        authenticate(APIClient(), vendor), paid.order, {"lines": [_line(paid.first)]}
    )

    assert (response.status_code, response.json()["code"]) == (422, "insufficient_funds")
    assert _snapshot(paid) == before
    assert owned_balance(vendor.pk, VENDOR_EARNINGS) == 1_00


# --- who may refund --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_who_may_refund() -> None:
    paid = _paid_by_wallet()
    guest_paid = _paid_by_card(guest=True)
    first_vendor = authenticate(APIClient(), paid.vendor_user(paid.first))
    stranger_vendor = authenticate(APIClient(), VendorFactory().user)
    other_customer = authenticate(APIClient(), CustomerFactory().user)
    before = _snapshot(paid)

    refused = {
        "buyer": _refund(paid.client, paid.order),
        "another customer": _refund(other_customer, paid.order),
        "anonymous": _refund(APIClient(), paid.order),
        "guest with its token": _refund(guest_paid.client, guest_paid.order),
        "vendor, another's line": _refund(
            first_vendor, paid.order, {"lines": [_line(paid.second)]}
        ),
        "vendor, no lines": _refund(first_vendor, paid.order, {"amount": "1.00"}),
        "vendor of other orders": _refund(
            stranger_vendor, paid.order, {"lines": [_line(paid.first)]}
        ),
    }

    assert {name: response.status_code for name, response in refused.items()} == {
        "buyer": 403,
        "another customer": 403,
        "anonymous": 401,
        "guest with its token": 401,
        "vendor, another's line": 403,
        "vendor, no lines": 403,
        "vendor of other orders": 404,
    }
    assert _snapshot(paid) == before
    own = _refund(first_vendor, paid.order, {"lines": [_line(paid.first, "5.00")]})
    assert own.status_code == 201, own.json()
    # A vendor's view: its lines, not the refund's whole amount.
    assert (own.json()["amount"], own.json()["vendor_amount"]) == (None, "5.00")
    inactive = paid.vendor_user(paid.second)
    inactive.vendor_profile.is_active = False
    inactive.vendor_profile.save()
    response = _refund(
        authenticate(APIClient(), inactive), paid.order, {"lines": [_line(paid.second)]}
    )
    assert (response.status_code, response.json()["code"]) == (422, "vendor_inactive")
    assert Refund.objects.count() == 1


@pytest.mark.django_db
def test_who_reads_refunds() -> None:
    paid = _paid_by_card(guest=True)
    refund = _refund(_admin(), paid.order, {"lines": [_line(paid.first, "2.00")]}).json()
    url = f"/api/v1/refunds/{refund['id']}/"
    first_vendor = authenticate(APIClient(), paid.vendor_user(paid.first))
    second_vendor = authenticate(APIClient(), paid.vendor_user(paid.second))

    assert paid.client.get(url).json() == refund
    assert _admin().get(url).json() == refund
    assert first_vendor.get(url).json()["vendor_amount"] == "2.00"
    assert second_vendor.get(url).status_code == 404
    assert APIClient().get(url).status_code == 404
    assert authenticate(APIClient(), CustomerFactory().user).get(url).status_code == 404
    listed = paid.client.get(f"/api/v1/orders/{paid.order.pk}/refunds/")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [refund["id"]]
    assert second_vendor.get(f"/api/v1/orders/{paid.order.pk}/refunds/").json()["results"] == []
    assert APIClient().get(f"/api/v1/orders/{paid.order.pk}/refunds/").status_code == 404


@pytest.mark.django_db
def test_an_idempotency_key_replays_the_refund() -> None:
    paid = _paid_by_wallet()
    admin = _admin()
    url = f"/api/v1/orders/{paid.order.pk}/refund/"

    first = admin.post(url, {"amount": "3.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    again = admin.post(url, {"amount": "3.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert Refund.objects.count() == 1
    assert Payment.objects.get(pk=paid.payment.pk).refunded_amount == 3_00


# --- cards and cash ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_card_refund_to_the_wallet_is_done_at_once() -> None:
    paid = _paid_by_card()

    response = _refund(_admin(), paid.order, {"destination": "wallet"})

    assert response.status_code == 201, response.json()
    assert customer_wallet_balance(paid.customer) == 50_78
    assert set(_net(paid.payment).values()) == {0}
    assert Order.objects.get(pk=paid.order.pk).status == OrderStatus.REFUNDED
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_card_refund_holds_the_vendors_earnings_until_the_gateway_answers() -> None:
    paid = _paid_by_card()
    vendor = paid.vendor_user(paid.first)

    response = _refund(_admin(), paid.order, {"lines": [_line(paid.first, "10.00")]})

    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending"
    refund = Refund.objects.get(pk=response.json()["id"])
    order, payment = paid.fresh()
    assert (order.status, payment.status, payment.refunded_amount) == (
        OrderStatus.CONFIRMED,
        PaymentStatus.CAPTURED,
        10_00,
    )
    earnings = ledger.account_get_or_create(owner=vendor, kind=VENDOR_EARNINGS)
    earnings.refresh_from_db()
    assert (earnings.balance, earnings.pending_debits) == (18_00, 9_00)
    # A full refund now covers only what no refund holds.
    assert _refund(_admin(), paid.order, {"amount": "40.79"}).status_code == 422

    with use_case_transaction():
        refund_settle(
            ATTEMPT,
            GatewayAnswer(outcome="refunded", reference="sbx_r_1", amount=10_00).as_json(),
            refund_id=str(refund.pk),
        )

    refund.refresh_from_db()
    assert (refund.status, refund.gateway_reference) == (RefundStatus.SUCCEEDED, "sbx_r_1")
    order, payment = paid.fresh()
    assert (order.status, payment.status) == (
        OrderStatus.PARTIALLY_REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
    )
    earnings.refresh_from_db()
    assert (earnings.balance, earnings.pending_debits) == (9_00, 0)
    # A second settle of the same refund changes nothing.
    with use_case_transaction():
        refund_settle(ATTEMPT, {"outcome": "declined"}, refund_id=str(refund.pk))
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCEEDED
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_refused_or_abandoned_card_refund_gives_everything_back() -> None:
    paid = _paid_by_card()
    admin = _admin()
    before = _snapshot(paid)[:4]
    declined = Refund.objects.get(pk=_refund(admin, paid.order).json()["id"])
    assert _refund(admin, paid.order).json()["code"] == "refund_in_progress"

    with use_case_transaction():
        refund_settle(
            ATTEMPT,
            GatewayAnswer(outcome="declined", reason="refund_declined").as_json(),
            refund_id=str(declined.pk),
        )

    declined.refresh_from_db()
    assert (declined.status, declined.failure_reason) == (RefundStatus.FAILED, "refund_declined")
    assert _snapshot(paid)[:4] == before
    vendor = paid.vendor_user(paid.first)
    assert ledger.account_get_or_create(owner=vendor, kind=VENDOR_EARNINGS).pending_debits == 0
    abandoned = Refund.objects.get(pk=_refund(admin, paid.order).json()["id"])
    with use_case_transaction():
        refund_give_up(ATTEMPT, "GatewayUnavailableError: down", refund_id=str(abandoned.pk))
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.failure_reason) == (
        RefundStatus.FAILED,
        "gateway_unavailable",
    )
    assert _snapshot(paid)[:4] == before
    assert _refund(admin, paid.order, {"destination": "wallet"}).status_code == 201
    assert set(_net(paid.payment).values()) == {0}
    assert_ledger_verifies()


@pytest.mark.django_db
def test_the_split_comes_back_exactly_when_a_refund_fails_between_others() -> None:
    # 90 % of the first vendor's line is its: 0.06 gives back 0.05 (5.4 rounded), 0.12
    # gives back 0.11 (10.8), so the 0.06 refunded second gave back 0.06 of its earnings.
    paid = _paid_by_card()
    admin = _admin()
    vendor = f"vendor:{paid.first.vendor_id}"
    pending = _refund(admin, paid.order, {"lines": [_line(paid.first, "0.06")]}).json()
    after = _refund(
        admin, paid.order, {"lines": [_line(paid.first, "0.06")], "destination": "wallet"}
    )
    assert _net(paid.payment)[vendor] == 18_00 - 6
    with use_case_transaction():
        refund_settle(ATTEMPT, {"outcome": "declined"}, refund_id=pending["id"])
    assert after.status_code == 201

    # Another vendor's line only: the first vendor gets back the cent it gave too much.
    other = _refund(
        admin, paid.order, {"lines": [_line(paid.second, "1.00")], "destination": "wallet"}
    )

    assert other.status_code == 201, other.json()
    net = _net(paid.payment)
    assert net[vendor] == 18_00 - 5
    assert net[f"vendor:{paid.second.vendor_id}"] == 22_95 - 90
    assert sum(net.values()) == 50_78 - 1_06
    assert _refund(admin, paid.order, {"destination": "wallet"}).status_code == 201
    assert set(_net(paid.payment).values()) == {0}
    assert customer_wallet_balance(paid.customer) == 50_78
    assert_ledger_verifies()


@pytest.mark.django_db
def test_cash_is_refunded_by_hand_through_the_manual_gateway() -> None:
    customer = CustomerFactory()
    placed, first = _placed(customer)
    payment = payment_start(
        access=order_get_for_actor(actor=customer.user, order_id=placed.order.pk),
        actor=customer.user,
        request=PaymentRequest("cash"),
    )
    admin = AdminFactory()
    payment_confirm_manual(actor=admin, payment=payment, reference="till 7")
    paid = _paid(placed, first, payment, customer)

    response = _refund(authenticate(APIClient(), admin), paid.order)
    assert response.status_code == 202
    with use_case_transaction():
        refund_settle(
            ATTEMPT,
            GatewayAnswer(outcome="refunded", amount=50_78).as_json(),
            refund_id=response.json()["id"],
        )

    order, payment = paid.fresh()
    assert (order.status, payment.status) == (OrderStatus.REFUNDED, PaymentStatus.REFUNDED)
    assert set(_net(payment).values()) == {0}
    assert customer_wallet_balance(customer) == 0
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_a_card_is_refunded_through_the_worker(celery_worker: Any) -> None:
    customer = CustomerFactory()
    placed, first = _placed(customer)
    client = authenticate(APIClient(), customer.user)
    started = client.post(
        f"/api/v1/orders/{placed.order.pk}/process-payment/",
        {"method": "credit_card", "card_number": CARD_OK},
        format="json",
    )
    payment = Payment.objects.get(pk=started.json()["id"])
    wait_until(lambda: Payment.objects.get(pk=payment.pk).status == PaymentStatus.CAPTURED)
    paid = _paid(placed, first, payment, customer)
    admin = _admin()

    partial = _refund(admin, paid.order, {"amount": "10.00"})
    assert (partial.status_code, partial.json()["status"]) == (202, "pending")
    wait_until(lambda: Refund.objects.get(pk=partial.json()["id"]).status != "pending")
    rest = _refund(admin, paid.order)
    assert rest.status_code == 202, rest.json()
    wait_until(lambda: Refund.objects.get(pk=rest.json()["id"]).status != "pending")

    detail = client.get(partial["Location"]).json()
    assert (detail["status"], detail["payment_status"]) == ("succeeded", "refunded")
    assert detail["gateway_reference"].startswith(f"sbx_{payment.pk.hex}_r_outbox-")
    order, payment = paid.fresh()
    assert (order.status, payment.status, payment.refunded_amount) == (
        OrderStatus.REFUNDED,
        PaymentStatus.REFUNDED,
        50_78,
    )
    assert set(_net(payment).values()) == {0}
    assert customer_wallet_balance(customer) == 0
    assert_ledger_verifies()


# --- races ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_partial_refunds_that_together_exceed_the_payment_one_succeeds() -> None:
    paid = _paid_by_wallet()
    admin = AdminFactory()

    def refund(amount: int) -> Refund:
        access = order_get_for_actor(actor=admin, order_id=paid.order.pk)
        return refund_create(access=access, actor=admin, request=RefundRequest(amount=amount))

    outcomes = run_concurrently(lambda: refund(30_00), lambda: refund(25_00))

    assert sum(outcome.ok for outcome in outcomes) == 1
    assert [type(o.error) for o in outcomes if o.error] == [RefundExceedsCapturedError]
    (refund_made,) = Refund.objects.all()
    payment = Payment.objects.get(pk=paid.payment.pk)
    assert payment.refunded_amount == refund_made.amount
    assert customer_wallet_balance(paid.customer) == 100_00 - 50_78 + refund_made.amount
    assert sum(_net(payment).values()) == 50_78 - refund_made.amount
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_two_refunds_of_one_line_that_together_exceed_it_one_succeeds() -> None:
    paid = _paid_by_wallet()
    vendor = paid.vendor_user(paid.first)

    def refund() -> Refund:
        access = order_get_for_actor(actor=vendor, order_id=paid.order.pk)
        return refund_create(
            access=access,
            actor=vendor,
            request=RefundRequest(lines=[RefundLineRequest(item_id=paid.first.pk, amount=15_00)]),
        )

    outcomes = run_concurrently(refund, times=4)

    assert sum(outcome.ok for outcome in outcomes) == 1
    assert {type(o.error) for o in outcomes if o.error} == {RefundExceedsLineError}
    assert RefundLine.objects.get().amount == 15_00
    assert Payment.objects.get(pk=paid.payment.pk).refunded_amount == 15_00
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_a_gateway_still_processing_a_refund_is_asked_again(monkeypatch: Any) -> None:
    paid = _paid_by_card()
    refund_id = _refund(_admin(), paid.order).json()["id"]
    answers = iter(
        [
            GatewayAnswer(outcome="pending"),
            GatewayAnswer(outcome="refunded", reference="sbx_r_2", amount=50_78),
        ]
    )
    monkeypatch.setattr(SandboxGateway, "refund", lambda self, *args, **kwargs: next(answers))

    with pytest.raises(GatewayUnavailableError):
        refund_call_gateway(ATTEMPT, refund_id=refund_id)
    answer = refund_call_gateway(ATTEMPT, refund_id=refund_id)
    with use_case_transaction():
        refund_settle(ATTEMPT, answer, refund_id=refund_id)

    assert Refund.objects.get(pk=refund_id).status == RefundStatus.SUCCEEDED
    assert refund_call_gateway(ATTEMPT, refund_id=refund_id) == {"final": True}
    assert Order.objects.get(pk=paid.order.pk).status == OrderStatus.REFUNDED
    assert_ledger_verifies()
