"""Delivery: a real Celery worker hands each notification to a real SMTP server (aiosmtpd
on loopback) once, retries a server that is down or refusing, and records the outcome."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from config.settings.email import email_settings
from tally.identity.tests.factories import UserFactory
from tally.notifications.models import Notification, NotificationKind, NotificationStatus
from tally.notifications.rendering import NotificationAttachment
from tally.notifications.services import notification_send
from tally.notifications.tests.samples import (
    CONTEXTS,
    GUEST_ORDER_URL,
    notification,
    send,
    send_then_roll_back,
    send_to_guest,
)
from tally.notifications.tests.smtp_server import SmtpServer, smtp_server_run
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.live_server import celery_worker_run, free_port
from tally.platform.testing.race import run_concurrently, transactions_open, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _settled(dedup_key: str) -> Notification:
    return wait_until(
        lambda: (
            Notification.objects.exclude(status=NotificationStatus.QUEUED)
            .filter(dedup_key=dedup_key)
            .first()
        ),
        timeout_seconds=30,
        message=f"{dedup_key} was never sent nor given up",
    )


def _audits(action: str, notification: Notification) -> list[dict[str, Any]]:
    return list(
        AuditEvent.objects.filter(action=action, target_id=str(notification.pk)).values_list(
            "changes", flat=True
        )
    )


def test_a_notification_is_emailed_with_text_and_html(celery_worker: Any, smtp: SmtpServer) -> None:
    # given
    user = UserFactory(email="ada@example.com")
    # when
    key = send(user, kind=NotificationKind.ACTIVATION_SUCCEEDED)
    # then
    sent = _settled(key)
    [message] = smtp.wait_for_messages(1)
    assert (sent.status, sent.attempts, sent.last_error) == (NotificationStatus.SENT, 1, "")
    assert sent.sent_at is not None
    assert message["To"] == "ada@example.com"
    assert message["From"] == "Tally <no-reply@tally.local>"
    assert message["Subject"] == "Internet 10 GB is active"
    assert message["Message-ID"] == f"<notification-{sent.pk}@tally.local>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().replace("\r\n", "\n") == (
        "Hello Ada Lovelace,\n\n"
        "Your Internet 10 GB is active until 31 December 2026, 18:30 UTC.\n\n"
        "Paid: 15.00 USD\n"
        "Reference: ACT-7K2M9QX4PD\n\n"
        "Thank you for choosing Tally.\n"
    )
    assert "<strong>Internet 10 GB</strong> is active until" in html.get_content()
    assert smtp.deliveries == 1
    assert _audits("notification.sent", sent) == [{"status": ["queued", "sent"]}]


def test_a_guest_notification_is_emailed_to_the_guests_address(
    celery_worker: Any, smtp: SmtpServer
) -> None:
    # given: a guest's order, notified twice (the same event)
    key = send_to_guest("guest@example.com", dedup_key="order:guest:placed")
    send_to_guest("guest@example.com", dedup_key="order:guest:placed")
    # when
    sent = _settled(key)
    # then
    [message] = smtp.wait_for_messages(1)
    assert (sent.user_id, sent.recipient) == (None, "guest@example.com")
    assert (sent.status, sent.attempts, sent.last_error) == (NotificationStatus.SENT, 1, "")
    assert message["To"] == "guest@example.com"
    assert message["Subject"] == "We received your order ORD-7K2M9QX4PD"
    assert message["Message-ID"] == f"<notification-{sent.pk}@tally.local>"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert f"Open your order here:\n{GUEST_ORDER_URL}\n" in text.get_content().replace("\r\n", "\n")
    assert f'<a href="{GUEST_ORDER_URL}"' in html.get_content()
    assert _audits("notification.sent", sent) == [{"status": ["queued", "sent"]}]
    wait_until(lambda: OutboxMessage.objects.filter(processed_at__isnull=False).count() == 1)
    assert (Notification.objects.count(), OutboxMessage.objects.count()) == (1, 1)
    assert (len(smtp.messages), smtp.deliveries) == (1, 1)


def test_a_guest_notification_that_cannot_be_sent_fails_like_a_users(
    celery_worker: Any, settings: Any
) -> None:
    # given: nothing listens where EMAIL_URL points
    for setting, value in email_settings(f"smtp://127.0.0.1:{free_port()}").items():
        setattr(settings, setting, value)
    settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 0.05
    # when
    key = send_to_guest("guest@example.com")
    # then
    failed = _settled(key)
    assert (failed.status, failed.user_id) == (NotificationStatus.FAILED, None)
    assert failed.attempts == django_settings.NOTIFICATIONS_EMAIL_MAX_ATTEMPTS
    assert failed.last_error.startswith("ConnectionRefusedError: ")


def test_a_repeated_event_is_emailed_once(celery_worker: Any, smtp: SmtpServer) -> None:
    # given: an event notified and sent
    user = UserFactory()
    key = send(user)
    _settled(key)
    # when: it is notified again, then ten times at once
    send(user, dedup_key=key)
    outcomes = run_concurrently(lambda: send(user, dedup_key=key), times=10)
    # then
    assert [outcome.error for outcome in outcomes] == [None] * 10
    assert Notification.objects.count() == 1
    assert OutboxMessage.objects.count() == 1
    wait_until(lambda: OutboxMessage.objects.filter(processed_at__isnull=False).count() == 1)
    assert (len(smtp.messages), smtp.deliveries) == (1, 1)


def test_ten_concurrent_first_notifications_of_one_event_email_once(
    celery_worker: Any, smtp: SmtpServer
) -> None:
    # given
    user = UserFactory()
    key = "activation:concurrent:succeeded"
    # when
    outcomes = run_concurrently(lambda: send(user, dedup_key=key), times=10)
    # then
    assert [outcome.error for outcome in outcomes] == [None] * 10
    sent = _settled(key)
    assert sent.status == NotificationStatus.SENT
    assert Notification.objects.count() == 1
    assert OutboxMessage.objects.count() == 1
    wait_until(lambda: OutboxMessage.objects.filter(processed_at__isnull=False).count() == 1)
    assert [message["Message-ID"] for message in smtp.messages] == [
        f"<notification-{sent.pk}@tally.local>"
    ]
    assert smtp.deliveries == 1


def test_smtp_down_twice_then_up_sends_on_the_third_attempt(
    celery_worker: Any, settings: Any
) -> None:
    # given: nothing listens where EMAIL_URL points; retries wait 1 s, then 2 s
    port = free_port()
    for setting, value in email_settings(f"smtp://127.0.0.1:{port}").items():
        setattr(settings, setting, value)
    settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 1.0
    key = send(UserFactory())
    job = OutboxMessage.objects.get()

    def second_failure_recorded() -> bool:
        # after a failure the job waits its backoff (seconds), not its claim lease (minutes)
        job.refresh_from_db()
        if job.attempts != 2 or job.next_attempt_at is None or job.claimed_at is None:
            return False
        lease = timedelta(seconds=django_settings.NOTIFICATIONS_EMAIL_CLAIM_TIMEOUT_SECONDS / 2)
        return job.next_attempt_at < job.claimed_at + lease

    wait_until(second_failure_recorded, timeout_seconds=30)
    queued = notification(key)
    assert (queued.status, queued.attempts) == (NotificationStatus.QUEUED, 2)
    assert queued.last_error.startswith("ConnectionRefusedError: ")
    # when: the server comes up
    with smtp_server_run(port=port) as smtp:
        sent = _settled(key)
        # then
        assert (sent.status, sent.attempts) == (NotificationStatus.SENT, 3)
        assert sent.last_error.startswith("ConnectionRefusedError: ")
        assert [message["Subject"] for message in smtp.messages] == ["Internet 10 GB is active"]
        assert smtp.deliveries == 1


def test_a_refusing_server_is_retried_until_it_accepts(
    celery_worker: Any, smtp: SmtpServer
) -> None:
    # given: the server answers 421 twice
    smtp.refuse_next(2)
    # when
    key = send(UserFactory())
    # then
    sent = _settled(key)
    assert (sent.status, sent.attempts) == (NotificationStatus.SENT, 3)
    assert sent.last_error.startswith("SMTPSenderRefused: (421, b'4.3.2 Service not available")
    assert (len(smtp.messages), smtp.deliveries) == (1, 3)


def test_smtp_down_for_good_fails_after_the_last_attempt(celery_worker: Any, settings: Any) -> None:
    # given
    for setting, value in email_settings(f"smtp://127.0.0.1:{free_port()}").items():
        setattr(settings, setting, value)
    settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 0.05
    # when
    key = send(UserFactory())
    # then
    failed = _settled(key)
    assert failed.status == NotificationStatus.FAILED
    assert failed.attempts == django_settings.NOTIFICATIONS_EMAIL_MAX_ATTEMPTS == 6
    assert failed.last_error.startswith("ConnectionRefusedError: ")
    assert (failed.sent_at, failed.failed_at is not None) == (None, True)
    [changes] = _audits("notification.failed", failed)
    assert changes == {"status": ["queued", "failed"], "last_error": [None, failed.last_error]}
    job = OutboxMessage.objects.get()
    assert (job.attempts, job.failed_at is not None) == (6, True)


def test_nothing_is_sent_when_the_callers_transaction_rolls_back(
    celery_worker: Any, smtp: SmtpServer
) -> None:
    # given
    user = UserFactory(email="ada@example.com")
    # when: the caller's change fails after it notified
    with pytest.raises(RuntimeError, match="the caller's change failed"):
        send_then_roll_back(user, dedup_key="rolled-back")
    # then: nothing recorded, queued or sent; the worker sends the next notification, only that
    assert (Notification.objects.count(), OutboxMessage.objects.count()) == (0, 0)
    assert smtp.deliveries == 0
    later = send(UserFactory(email="grace@example.com"))
    _settled(later)
    assert [message["To"] for message in smtp.wait_for_messages(1)] == ["grace@example.com"]
    assert smtp.deliveries == 1


def test_no_transaction_is_open_while_the_mail_server_works(
    celery_worker: Any, smtp: SmtpServer
) -> None:
    # given
    smtp.stall_next()
    key = send(UserFactory())
    # when: the server holds the message
    smtp.wait_for_stalled()
    # then
    assert transactions_open() == []
    smtp.release()
    assert _settled(key).status == NotificationStatus.SENT


@pytest.mark.timeout(120)
def test_a_worker_process_delivers_through_the_server_its_email_url_names(
    smtp: SmtpServer,
) -> None:
    # given: a separate worker process configured only by its environment, as in production
    with celery_worker_run(extra_env={"EMAIL_URL": smtp.url}):
        # when
        key = send(UserFactory(email="ada@example.com"))
        # then
        sent = _settled(key)
    assert (sent.status, sent.attempts) == (NotificationStatus.SENT, 1)
    assert [message["To"] for message in smtp.messages] == ["ada@example.com"]


def test_attachments_are_read_from_storage_and_sent_with_the_email(
    celery_worker: Any, smtp: SmtpServer, settings: Any, tmp_path: Any
) -> None:
    # given: a file in the default storage
    settings.MEDIA_ROOT = str(tmp_path)
    pdf = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF\n"
    path = default_storage.save("invoices/2026/INV-2026-000042-0f3c.pdf", ContentFile(pdf))
    user = UserFactory(email="ada@example.com")
    # when
    key = f"test:{uuid.uuid4().hex}"
    with transaction.atomic():
        notification_send(
            user=user,
            kind=NotificationKind.INVOICE_ISSUED,
            context=CONTEXTS[NotificationKind.INVOICE_ISSUED],
            dedup_key=key,
            attachments=[NotificationAttachment(path=path, filename="INV-2026-000042.pdf")],
        )
    # then
    sent = _settled(key)
    [message] = smtp.wait_for_messages(1)
    assert sent.status == NotificationStatus.SENT
    assert message.get_content_type() == "multipart/mixed"
    assert message["Subject"] == "Your invoice INV-2026-000042 for order ORD-7K2M9QX4PD"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "is attached as a PDF" in text.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV-2026-000042.pdf"
    assert attachment.get_content() == pdf


def test_an_attachment_missing_from_storage_fails_the_delivery_after_its_attempts(
    celery_worker: Any, smtp: SmtpServer, settings: Any, tmp_path: Any
) -> None:
    # given: an attachment nobody stored
    settings.MEDIA_ROOT = str(tmp_path)
    key = f"test:{uuid.uuid4().hex}"
    # when
    with transaction.atomic():
        notification_send(
            recipient="guest@example.com",
            kind=NotificationKind.INVOICE_ISSUED,
            context=CONTEXTS[NotificationKind.INVOICE_ISSUED],
            dedup_key=key,
            attachments=[NotificationAttachment(path="invoices/missing.pdf")],
        )
    # then
    failed = _settled(key)
    assert failed.status == NotificationStatus.FAILED
    assert "FileNotFoundError" in failed.last_error
    assert smtp.messages == []
