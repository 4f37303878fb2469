"""The payments admin console: refunding a paid order and asking the gateway again about a
payment left in flight, through the same services as the API (and a real Celery worker for
the jobs). Each action changes the books exactly as the API does; a refused one changes
nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from tally.catalog.testing import variant_make
from tally.credit.testing import customer_wallet_balance
from tally.identity.models import Role, User
from tally.identity.tests.factories import AdminFactory, CustomerFactory, UserFactory
from tally.ledger.testing import assert_ledger_verifies
from tally.orders.models import Order, OrderStatus
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_place_for_test
from tally.payments import services as payment_services
from tally.payments.models import Payment, PaymentEvent, PaymentStatus, Refund, RefundStatus
from tally.payments.refunds import REFUND_TASK
from tally.payments.revalidation import REVALIDATE_TASK
from tally.payments.services import PaymentRequest, payment_start
from tally.payments.testing import payment_split_of
from tally.payments.tests.test_refunds import (
    CARD_OK,
    Paid,
    _net,
    _paid_by_card,
    _paid_by_wallet,
    _snapshot,
)
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox import services as outbox
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import wait_until

URL = "/admin/payments/payment/"


@pytest.fixture(autouse=True)
def _rates(settings: Any) -> None:
    # As in test_refunds: 45.50 of lines + 3.00 shipping + 2.28 tax = 50.78.
    settings.PAYMENTS_COMMISSION_PERCENT = "10"
    settings.ORDER_TAX_RATE_PERCENT = "5"
    settings.ORDER_SHIPPING_FEE = "3.00"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def all_jobs_done() -> None:
    """Let the worker finish the jobs it was given (the invoice, the emails) before the
    test's tables are emptied under it."""
    published = OutboxMessage.objects.filter(processed_at__isnull=True, published_at__isnull=False)
    wait_until(lambda: not published.exists(), timeout_seconds=30, message="jobs left running")


def refund_url(payment: Payment) -> str:
    return f"{URL}{payment.pk}/refund/"


def change_url(payment: Payment) -> str:
    return f"{URL}{payment.pk}/change/"


@pytest.mark.django_db
def test_a_partial_refund_from_the_admin_moves_the_books_as_the_api_does() -> None:
    # given: a wallet-paid order of 50.78 (the API's own test refunds 10.00 of it)
    paid = _paid_by_wallet()
    admin = AdminFactory()
    client = login(admin)
    # when
    form = client.get(refund_url(paid.payment))
    response = client.post(
        refund_url(paid.payment),
        {"scope": "amount", "amount": "10.00", "destination": "wallet", "reason": "late"},
        follow=True,
    )
    # then: the same shares, wallet and split as the API's partial refund
    assert form.status_code == 200
    assert 'name="refund"' in form.content.decode()
    assert response.redirect_chain == [(change_url(paid.payment), 302)]
    assert messages_of(response) == [
        "Refunded 10.00 USD (wallet); the order is partially_refunded."
    ]
    refund = Refund.objects.get()
    assert (refund.amount, refund.status, refund.destination, refund.reason) == (
        10_00,
        RefundStatus.SUCCEEDED,
        "wallet",
        "late",
    )
    assert {line.item_id: line.amount for line in refund.lines.all()} == {
        paid.first.pk: 3_94,
        paid.second.pk: 5_02,
    }
    assert customer_wallet_balance(paid.customer) == 100_00 - 50_78 + 10_00
    net = _net(paid.payment)
    assert net[f"vendor:{paid.first.vendor_id}"] == 18_00 - 3_55
    assert net[f"vendor:{paid.second.vendor_id}"] == 22_95 - 4_52
    assert net["tax_collected"] == 2_28 - 45
    order, payment = paid.fresh()
    assert (order.status, payment.status, payment.refunded_amount) == (
        OrderStatus.PARTIALLY_REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        10_00,
    )
    assert AuditEvent.objects.filter(action="refund.requested", actor=admin).count() == 1
    page = client.get(change_url(paid.payment)).content.decode()
    assert "50.78 USD paid, 10.00 refunded (or being refunded), 40.78 left" in page
    assert "payment.partially_refunded" in page
    refund_page = client.get(f"/admin/payments/refund/{refund.pk}/change/").content.decode()
    assert "refund.requested" in refund_page
    assert "refund.succeeded" in refund_page
    assert_ledger_verifies()


@pytest.mark.django_db
def test_refunding_lines_from_the_admin_gives_back_what_is_left_of_them() -> None:
    # given
    paid = _paid_by_wallet()
    # when: all that is left of the first line, and 5.00 of the second
    response = login(AdminFactory()).post(
        refund_url(paid.payment),
        {
            "scope": "lines",
            "line": [str(paid.first.pk), str(paid.second.pk)],
            f"line_amount_{paid.second.pk}": "5.00",
            "destination": "original",
        },
        follow=True,
    )
    # then
    assert messages_of(response) == [
        "Refunded 25.00 USD (original); the order is partially_refunded."
    ]
    refund = Refund.objects.get()
    assert {line.item_id: line.amount for line in refund.lines.all()} == {
        paid.first.pk: 20_00,
        paid.second.pk: 5_00,
    }
    assert customer_wallet_balance(paid.customer) == 100_00 - 50_78 + 25_00
    assert_ledger_verifies()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"scope": "amount", "amount": "60.00"},
            "Not refunded: 50.78 is left to refund of this payment; asked for 60.00.",
        ),
        (
            {"scope": "amount", "amount": "1e2"},
            "Not refunded: amount: Enter an amount as a decimal string with at most 2 decimal "
            "places, like 450.00.",
        ),
        ({"scope": "amount", "amount": "-3"}, None),
        ({"scope": "amount", "amount": ""}, "Not refunded: amount: Enter the amount to give back."),
        ({"scope": "lines"}, "Not refunded: lines: Tick at least one line to give back."),
        ({"scope": "sideways"}, None),
        (
            {"scope": "lines", "line": "not-a-line"},
            "Not refunded: lines: 1: item_id: Must be a valid UUID.",
        ),
        ({"scope": "lines", "line": "00000000-0000-0000-0000-000000000000"}, None),
        ({"scope": "full", "destination": "moon"}, None),
    ],
)
def test_a_refused_refund_is_a_message_and_changes_nothing(
    form: dict[str, str], message: str | None
) -> None:
    # given
    paid = _paid_by_wallet()
    before = _snapshot(paid)
    audits = AuditEvent.objects.count()
    # when
    response = login(AdminFactory()).post(refund_url(paid.payment), form)
    # then: the form again, with the reason; nothing written
    assert response.status_code == 200
    shown = messages_of(response)
    assert len(shown) == 1
    assert shown[0].startswith("Not refunded: ")
    if message is not None:
        assert shown == [message]
    assert _snapshot(paid) == before
    assert AuditEvent.objects.count() == audits
    assert OutboxMessage.objects.filter(task_name=REFUND_TASK).count() == 0


@pytest.mark.django_db
def test_staff_without_the_admin_role_cannot_refund_or_revalidate() -> None:
    # given: staff with every permission but the vendor role; a view-only admin
    paid = _paid_by_wallet()
    before = _snapshot(paid)
    audits = AuditEvent.objects.count()
    not_admin = UserFactory(role=Role.VENDOR, is_staff=True, is_superuser=True)
    viewer = UserFactory(role=Role.ADMIN, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_payment"))
    # when
    refused = login(not_admin).post(refund_url(paid.payment), {"scope": "full"})
    viewer_page = login(viewer).get(change_url(paid.payment))
    viewer_form = login(viewer).get(refund_url(paid.payment))
    viewer_post = login(viewer).post(refund_url(paid.payment), {"scope": "full"})
    # then
    assert messages_of(refused) == ["Not refunded: Only admins can do this."]
    assert viewer_page.status_code == 200
    assert "refund-link" not in viewer_page.content.decode()
    assert viewer_form.status_code == viewer_post.status_code == 403
    assert _snapshot(paid) == before
    assert AuditEvent.objects.count() == audits


@pytest.mark.django_db(transaction=True)
def test_a_card_refund_from_the_admin_is_settled_by_the_worker(celery_worker: Any) -> None:
    # given: a card-paid order
    paid = _paid_by_card()
    client = login(AdminFactory())
    # when: the whole of it back to the card
    response = client.post(refund_url(paid.payment), {"scope": "full"}, follow=True)
    refund = Refund.objects.get()
    wait_until(
        lambda: Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCEEDED,
        message="the gateway job never settled the refund",
    )
    # then
    assert messages_of(response) == [
        "Refund of 50.78 USD requested; it is pending until the gateway confirms it (a worker "
        "asks it)."
    ]
    order, payment = paid.fresh()
    assert (order.status, payment.status, payment.refunded_amount) == (
        OrderStatus.REFUNDED,
        PaymentStatus.REFUNDED,
        50_78,
    )
    assert set(_net(payment).values()) == {0}
    assert OutboxMessage.objects.get(task_name=REFUND_TASK).processed_at is not None
    assert_ledger_verifies()
    all_jobs_done()


# --- a payment left in flight: ask the gateway again -------------------------------------------


def _card_payment_in_flight(monkeypatch: pytest.MonkeyPatch) -> Payment:
    """A card payment accepted while the broker was down: its gateway call never ran."""
    real_send = outbox._send

    def broker_down(message: OutboxMessage) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(outbox, "_send", broker_down)
    customer = CustomerFactory()
    placed = order_place_for_test(
        lines=[(variant_make(price=10_00, stock=5), 2), (variant_make(price=25_50), 1)],
        customer=customer,
    )
    access = order_get_for_actor(actor=customer.user, order_id=placed.order.pk)
    payment = payment_start(
        access=access, actor=customer.user, request=PaymentRequest("credit_card", CARD_OK)
    )
    monkeypatch.setattr(outbox, "_send", real_send)
    return payment


@pytest.mark.django_db(transaction=True)
def test_asking_the_gateway_again_captures_a_payment_left_in_flight(
    celery_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    payment = _card_payment_in_flight(monkeypatch)
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.INITIATED
    admin = AdminFactory()
    client = login(admin)
    # when
    page = client.get(change_url(payment))
    response = client.post(f"{URL}{payment.pk}/revalidate/", follow=True)
    wait_until(
        lambda: Payment.objects.get(pk=payment.pk).status == PaymentStatus.CAPTURED,
        message="the revalidation job never settled the payment",
    )
    wait_until(
        lambda: OutboxMessage.objects.get(task_name=REVALIDATE_TASK).processed_at is not None
    )
    again = client.post(f"{URL}{payment.pk}/revalidate/", follow=True)
    # then: captured and split once, as a capture through the API's job would be
    assert 'name="revalidate"' in page.content.decode()
    assert messages_of(response) == [
        "Asked the gateway again; a worker settles its answer (reload to see it)."
    ]
    assert messages_of(again) == [
        "Not asked: This payment is captured: it is settled, there is nothing to reconcile."
    ]
    captured = Payment.objects.get(pk=payment.pk)
    assert captured.gateway_reference == f"sbx_{payment.pk.hex}"
    assert Order.objects.get(pk=payment.order_id).status == OrderStatus.CONFIRMED
    split = payment_split_of(captured)
    assert sum(split.values()) == captured.amount == 50_78
    assert split["tax_collected"] == 2_28
    assert list(
        PaymentEvent.objects.filter(payment=payment, kind="admin").values_list("payload", flat=True)
    ) == [{"action": "revalidate"}]
    assert list(
        AuditEvent.objects.filter(action="payment.revalidation_requested").values_list(
            "actor", "target_id"
        )
    ) == [(admin.pk, str(payment.pk))]
    assert OutboxMessage.objects.filter(task_name=REVALIDATE_TASK).count() == 1
    # The original gateway job, published late by the sweeper, finds it settled: no second split.
    initiate = OutboxMessage.objects.get(task_name=payment_services.INITIATE_TASK)
    assert outbox.outbox_publish(message_id=initiate.pk) is True
    wait_until(lambda: OutboxMessage.objects.get(pk=initiate.pk).processed_at is not None)
    assert payment_split_of(Payment.objects.get(pk=payment.pk)) == split
    assert_ledger_verifies()
    all_jobs_done()


@pytest.mark.django_db
def test_revalidating_a_settled_or_manual_payment_is_refused(admin_user: User) -> None:
    # given: a captured wallet payment and a cash payment awaiting confirmation
    paid: Paid = _paid_by_wallet()
    placed = order_place_for_test(lines=[(variant_make(price=10_00), 1)])
    access = order_get_for_actor(
        actor=None, order_id=placed.order.pk, access_token=placed.access_token
    )
    cash = payment_start(access=access, actor=None, request=PaymentRequest("cash"))
    audits = AuditEvent.objects.count()
    events = PaymentEvent.objects.count()
    client = login(admin_user)
    # when
    settled = client.post(f"{URL}{paid.payment.pk}/revalidate/", follow=True)
    manual = client.post(f"{URL}{cash.pk}/revalidate/", follow=True)
    # then
    assert messages_of(settled) == [
        "Not asked: This payment is captured: it is settled, there is nothing to reconcile."
    ]
    assert messages_of(manual) == [
        "Not asked: No gateway to ask: a cash or bank-transfer payment is confirmed by hand, "
        "a wallet payment settles at once."
    ]
    assert Payment.objects.get(pk=cash.pk).status == PaymentStatus.INITIATED
    assert AuditEvent.objects.count() == audits
    assert PaymentEvent.objects.count() == events
    assert OutboxMessage.objects.filter(task_name=REVALIDATE_TASK).count() == 0


@pytest.mark.django_db
def test_the_list_finds_unreconciled_payments_and_asks_about_them_in_bulk(
    admin_user: User, settings: Any
) -> None:
    # given: a card payment in flight for ten minutes, one just started, a captured one
    settings.PAYMENTS_RECONCILE_AFTER_SECONDS = 300

    def card_in_flight() -> Payment:
        placed = order_place_for_test(lines=[(variant_make(price=10_00), 1)])
        access = order_get_for_actor(
            actor=None, order_id=placed.order.pk, access_token=placed.access_token
        )
        return payment_start(
            access=access, actor=None, request=PaymentRequest("credit_card", CARD_OK)
        )

    old, fresh = card_in_flight(), card_in_flight()
    Payment.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    captured = _paid_by_wallet().payment
    client = login(admin_user)
    # when
    listed = client.get(URL, {"unreconciled": "yes"}).context["cl"].result_list
    response = client.post(
        URL,
        {"action": "revalidate", "_selected_action": [str(old.pk), str(captured.pk)]},
        follow=True,
    )
    # then
    assert [payment.pk for payment in listed] == [old.pk]
    assert messages_of(response) == [
        f"{captured.pk}: This payment is captured: it is settled, there is nothing to reconcile.",
        "Asked the gateway again about 1 payment(s); a worker settles the answers.",
    ]
    assert list(
        OutboxMessage.objects.filter(task_name=REVALIDATE_TASK).values_list("payload", flat=True)
    ) == [{"payment_id": str(old.pk)}]
    assert Payment.objects.get(pk=fresh.pk).status == PaymentStatus.INITIATED
