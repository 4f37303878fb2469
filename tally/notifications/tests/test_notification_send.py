"""notification_send records a notification and its delivery job in the caller's
transaction, once per dedup key, and refuses what it cannot send."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from tally.identity.tests.factories import UserFactory
from tally.notifications.models import Notification, NotificationKind, NotificationStatus
from tally.notifications.rendering import NotificationAttachment, NotificationContextError
from tally.notifications.services import NOTIFICATION_DELIVER_TASK, notification_send
from tally.notifications.tests.samples import (
    CONTEXTS,
    GUEST_ORDER_PLACED,
    GUEST_ORDER_URL,
    send,
    send_then_roll_back,
    send_to_guest,
)
from tally.platform.db import TransactionRequiredError
from tally.platform.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def _nothing_written() -> bool:
    return Notification.objects.count() == 0 and OutboxMessage.objects.count() == 0


def test_records_the_notification_and_queues_its_delivery() -> None:
    # given
    user = UserFactory(email="ada@example.com")
    # when
    send(user, kind=NotificationKind.ACTIVATION_SUCCEEDED, dedup_key="activation:1:succeeded")
    # then
    notification = Notification.objects.get()
    assert (
        notification.user_id,
        notification.recipient,
        notification.kind,
        notification.dedup_key,
        notification.status,
        notification.attempts,
        notification.last_error,
        notification.sent_at,
        notification.failed_at,
    ) == (
        user.pk,
        "ada@example.com",
        "activation_succeeded",
        "activation:1:succeeded",
        NotificationStatus.QUEUED,
        0,
        "",
        None,
        None,
    )
    assert notification.context == {
        "customer_name": "Ada Lovelace",
        "offer_name": "Internet 10 GB",
        "price": "15.00",
        "currency": "USD",
        "reference": "ACT-7K2M9QX4PD",
        "expires_at": "2026-12-31T18:30:00Z",
    }
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.payload) == (
        NOTIFICATION_DELIVER_TASK,
        {"notification_id": str(notification.pk)},
    )


def test_a_repeated_dedup_key_records_nothing_more() -> None:
    # given
    user = UserFactory()
    send(user, dedup_key="expiring:1:2026-12-31T18:30:00+00:00")
    first = Notification.objects.get()
    # when: the same event again, later and within one transaction
    send(user, dedup_key="expiring:1:2026-12-31T18:30:00+00:00")
    with transaction.atomic():
        for _ in range(2):
            notification_send(
                user=UserFactory(),
                kind=NotificationKind.SUBSCRIPTION_EXPIRED,
                context=CONTEXTS[NotificationKind.SUBSCRIPTION_EXPIRED],
                dedup_key="expiring:1:2026-12-31T18:30:00+00:00",
            )
    # then
    assert list(Notification.objects.values_list("pk", "kind")) == [
        (first.pk, "activation_succeeded")
    ]
    assert OutboxMessage.objects.count() == 1


def test_a_guest_is_notified_at_the_address_given_with_no_user() -> None:
    # when
    send_to_guest("guest@example.com", dedup_key="order:1:placed")
    # then
    notification = Notification.objects.get()
    assert (
        notification.user_id,
        notification.recipient,
        notification.kind,
        notification.dedup_key,
        notification.status,
        notification.attempts,
    ) == (
        None,
        "guest@example.com",
        "order_placed",
        "order:1:placed",
        NotificationStatus.QUEUED,
        0,
    )
    assert notification.context == {
        "name": "Ada Lovelace",
        "order_number": "ORD-7K2M9QX4PD",
        "total": "37.50",
        "currency": "USD",
        "items": [
            {
                "title": "Home cleaning",
                "variant": "Standard",
                "quantity": 2,
                "line_total": "25.00",
            },
            {"title": "Window cleaning", "variant": "", "quantity": 1, "line_total": "12.50"},
        ],
        "payment_due_at": "2026-12-01T18:30:00Z",
        "order_url": GUEST_ORDER_URL,
    }
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.payload) == (
        NOTIFICATION_DELIVER_TASK,
        {"notification_id": str(notification.pk)},
    )


def test_a_guests_repeated_dedup_key_records_nothing_more() -> None:
    # given
    send_to_guest("guest@example.com", dedup_key="order:1:placed")
    first = Notification.objects.get()
    # when: the same event again, later, within one transaction, and to another address
    send_to_guest("guest@example.com", dedup_key="order:1:placed")
    with transaction.atomic():
        for address in ("guest@example.com", "other@example.com"):
            notification_send(
                recipient=address,
                kind=NotificationKind.ORDER_PLACED,
                context=GUEST_ORDER_PLACED,
                dedup_key="order:1:placed",
            )
    # then
    assert list(Notification.objects.values_list("pk", "recipient")) == [
        (first.pk, "guest@example.com")
    ]
    assert OutboxMessage.objects.count() == 1


def test_a_user_and_a_guest_key_share_one_namespace() -> None:
    # given: the event was notified to a user
    send(UserFactory(email="ada@example.com"), dedup_key="order:2:cancelled")
    # when: the same key names a guest's notification
    send_to_guest(
        "guest@example.com", kind=NotificationKind.ORDER_CANCELLED, dedup_key="order:2:cancelled"
    )
    # then
    assert list(Notification.objects.values_list("recipient", flat=True)) == ["ada@example.com"]
    assert OutboxMessage.objects.count() == 1


@pytest.mark.parametrize(
    "addressee",
    [
        pytest.param({"recipient": "guest@example.com"}, id="user-and-recipient"),
        pytest.param({"user": None}, id="neither"),
        pytest.param({"user": None, "recipient": None}, id="both-none"),
        pytest.param({"user": None, "recipient": ""}, id="empty-recipient"),
        pytest.param({"user": None, "recipient": "not an address"}, id="not-an-address"),
        pytest.param(
            {"user": None, "recipient": "guest@example.com\nBcc: all@example.com"},
            id="header-injection",
        ),
        pytest.param({"user": None, "recipient": f"{'a' * 250}@example.com"}, id="too-long"),
    ],
)
def test_an_addressee_named_twice_or_not_at_all_is_refused_and_nothing_written(
    addressee: dict[str, Any],
) -> None:
    # given
    call: dict[str, Any] = {
        "user": UserFactory(email="ada@example.com"),
        "kind": NotificationKind.ORDER_CANCELLED,
        "context": CONTEXTS[NotificationKind.ORDER_CANCELLED],
        "dedup_key": "refused",
        **addressee,
    }
    if call["user"] is None:
        del call["user"]
    # when
    with pytest.raises(ValueError, match="recipient"), transaction.atomic():
        notification_send(**call)
    # then
    assert _nothing_written()


@pytest.mark.django_db(transaction=True)
def test_it_runs_only_inside_the_callers_transaction() -> None:
    # when: called with no transaction open (a test transaction would hide that)
    with pytest.raises(TransactionRequiredError):
        notification_send(
            user=UserFactory(),
            kind=NotificationKind.SUBSCRIPTION_EXPIRED,
            context=CONTEXTS[NotificationKind.SUBSCRIPTION_EXPIRED],
            dedup_key="outside",
        )
    # then
    assert _nothing_written()


def test_a_rolled_back_caller_leaves_no_notification() -> None:
    # given
    user = UserFactory()
    # when
    with pytest.raises(RuntimeError, match="the caller's change failed"):
        send_then_roll_back(user, dedup_key="rolled-back")
    # then: nothing, and the key is still free for the event's next try
    assert _nothing_written()
    send(user, kind=NotificationKind.SUBSCRIPTION_EXPIRED, dedup_key="rolled-back")
    assert Notification.objects.get().dedup_key == "rolled-back"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"kind": "birthday"}, ValueError),
        ({"context": {"customer_name": "Ada"}}, NotificationContextError),
        ({"dedup_key": ""}, ValueError),
        ({"dedup_key": "k" * 201}, ValueError),
    ],
)
def test_what_cannot_be_sent_is_refused_and_nothing_written(
    arguments: dict[str, Any], error: type[Exception]
) -> None:
    # given
    user = UserFactory()
    call: dict[str, Any] = {
        "user": user,
        "kind": NotificationKind.SUBSCRIPTION_EXPIRED,
        "context": CONTEXTS[NotificationKind.SUBSCRIPTION_EXPIRED],
        "dedup_key": "refused",
        **arguments,
    }
    # when
    with pytest.raises(error), transaction.atomic():
        notification_send(**call)
    # then
    assert _nothing_written()


def test_attachments_are_recorded_with_their_file_names_and_types() -> None:
    # given
    user = UserFactory()
    # when
    with transaction.atomic():
        notification_send(
            user=user,
            kind=NotificationKind.INVOICE_ISSUED,
            context=CONTEXTS[NotificationKind.INVOICE_ISSUED],
            dedup_key="invoice:1",
            attachments=[
                NotificationAttachment(
                    path="invoices/2026/INV-2026-000042-0f3c.pdf", filename="INV-2026-000042.pdf"
                ),
                NotificationAttachment(path="notes/terms.txt"),
                NotificationAttachment(path="blobs/data", content_type="application/x-custom"),
            ],
        )
    # then
    assert Notification.objects.get().attachments == [
        {
            "path": "invoices/2026/INV-2026-000042-0f3c.pdf",
            "filename": "INV-2026-000042.pdf",
            "content_type": "application/pdf",
        },
        {"path": "notes/terms.txt", "filename": "terms.txt", "content_type": "text/plain"},
        {"path": "blobs/data", "filename": "data", "content_type": "application/x-custom"},
    ]


def test_a_notification_without_attachments_records_none() -> None:
    # when
    send(UserFactory())
    # then
    assert Notification.objects.get().attachments == []


@pytest.mark.parametrize(
    "attachment",
    [
        NotificationAttachment(path=""),
        NotificationAttachment(path="a" * 501),
        NotificationAttachment(path="invoices/x.pdf", filename='bad"name.pdf'),
        NotificationAttachment(path="invoices/x.pdf", filename="dir/name.pdf"),
        NotificationAttachment(path="invoices/x.pdf", filename="line\nbreak.pdf"),
    ],
)
def test_a_malformed_attachment_is_refused_and_nothing_is_written(
    attachment: NotificationAttachment,
) -> None:
    # when / then
    with pytest.raises(NotificationContextError), transaction.atomic():
        notification_send(
            user=UserFactory(),
            kind=NotificationKind.INVOICE_ISSUED,
            context=CONTEXTS[NotificationKind.INVOICE_ISSUED],
            dedup_key="invoice:bad",
            attachments=[attachment],
        )
    assert _nothing_written()
