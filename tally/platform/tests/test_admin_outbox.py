"""The outbox in the admin console: every job with its state (pending, stuck, waiting,
failed, processed), and **Retry**, which republishes a job that has not run through the
outbox's own publish; the job's exactly-once guard keeps a retry from doing anything twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from tally.credit import services as credit
from tally.credit.ledger_vocabulary import VENDOR_PREPAID
from tally.credit.models import CreditRequest, CreditRequestStatus
from tally.credit.testing import owned_balance
from tally.identity.models import Role, User
from tally.identity.services import vendor_activate
from tally.identity.tests.factories import AdminFactory, UserFactory, VendorFactory
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox import services as outbox
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import wait_until

URL = "/admin/platform/outboxmessage/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def retry(client: Client, *messages: OutboxMessage) -> Any:
    return client.post(
        URL,
        {"action": "retry", "_selected_action": [str(message.pk) for message in messages]},
        follow=True,
    )


def job(*, age_seconds: float = 0, **fields: Any) -> OutboxMessage:
    message = OutboxMessage.objects.create(task_name="tally.test.nothing", payload={}, **fields)
    if age_seconds:
        OutboxMessage.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(seconds=age_seconds)
        )
    return message


@pytest.mark.django_db
def test_the_list_shows_each_job_in_its_state(admin_user: User, settings: Any) -> None:
    # given: one job in each state
    settings.OUTBOX_REPUBLISH_AFTER_SECONDS = 60
    now = timezone.now()
    pending = job()
    stuck = job(age_seconds=600)
    lost = job(age_seconds=600, published_at=now - timedelta(seconds=300))
    waiting = job(
        age_seconds=600, attempts=1, claimed_at=now, next_attempt_at=now + timedelta(seconds=60)
    )
    failed = job(
        attempts=5, processed_at=now, failed_at=now, last_error="ProviderUnavailableError: down"
    )
    done = job(processed_at=now)
    client = login(admin_user)
    # when
    by_state = {
        state: {row.pk for row in client.get(URL, {"state": state}).context["cl"].result_list}
        for state in ("pending", "stuck", "waiting", "failed", "processed", "unprocessed")
    }
    callouts = client.get(URL, {"kind": "callout"}).context["cl"].result_list
    page = client.get(URL).content.decode()
    # then
    assert by_state == {
        "pending": {pending.pk},
        "stuck": {stuck.pk, lost.pk},
        "waiting": {waiting.pk},
        "failed": {failed.pk},
        "processed": {done.pk},
        "unprocessed": {pending.pk, stuck.pk, lost.pk, waiting.pk},
    }
    assert {row.pk for row in callouts} == {waiting.pk, failed.pk}
    assert "ProviderUnavailableError: down" in page


@pytest.mark.django_db(transaction=True)
def test_retry_republishes_a_stuck_job_and_it_credits_once(
    celery_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an approved credit request whose job the broker never received
    real_send = outbox._send

    def broker_down(message: OutboxMessage) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(outbox, "_send", broker_down)
    admin = AdminFactory()
    vendor = VendorFactory()
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=7_000, requested_by=vendor.user
    )
    credit.credit_request_approve(actor=admin, credit_request=credit_request)
    message = OutboxMessage.objects.get()
    assert (message.published_at, message.processed_at) == (None, None)
    monkeypatch.setattr(outbox, "_send", real_send)
    client = login(admin)
    # when: the admin retries it, then retries it again once it ran
    first = retry(client, message)
    wait_until(
        lambda: (
            CreditRequest.objects.get(pk=credit_request.pk).status == CreditRequestStatus.APPROVED
        ),
        message="the republished job never credited the vendor",
    )
    wait_until(lambda: OutboxMessage.objects.get(pk=message.pk).processed_at is not None)
    second = retry(client, message)
    # then: the vendor is credited exactly once
    assert messages_of(first) == ["Republished: 1. Refused: 0."]
    assert messages_of(second) == [
        f"#{message.pk}: This job has run; it does not run again.",
        "Republished: 0. Refused: 1.",
    ]
    assert owned_balance(vendor.user_id, VENDOR_PREPAID) == 7_000
    message.refresh_from_db()
    assert message.publish_attempts == 2  # the failed publish, then the admin's
    assert list(
        AuditEvent.objects.filter(action="outbox_message.retried").values_list(
            "actor", "target_id", "changes"
        )
    ) == [(admin.pk, str(message.pk), {"publish_attempts": [1, 2]})]


@pytest.mark.django_db
def test_retry_refuses_failed_and_held_jobs_and_changes_nothing(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a job that gave up and one a worker holds; nothing may reach the broker
    sent: list[int] = []
    monkeypatch.setattr(outbox, "_send", lambda message: sent.append(message.pk))
    now = timezone.now()
    failed = job(attempts=5, processed_at=now, failed_at=now, last_error="Timeout: slow")
    held = job(attempts=1, claimed_at=now, next_attempt_at=now + timedelta(seconds=60))
    # when
    response = retry(login(admin_user), failed, held)
    # then
    shown = messages_of(response)
    assert shown[-1] == "Republished: 0. Refused: 2."
    assert (
        f"#{failed.pk}: This job gave up after 5 attempt(s) (Timeout: slow); its use case "
        "recorded the failure, so it does not run again." in shown
    )
    assert any(
        line.startswith(f"#{held.pk}: A worker holds this job or it waits") for line in shown
    )
    assert sent == []
    assert AuditEvent.objects.count() == 0
    assert sorted(OutboxMessage.objects.values_list("publish_attempts", flat=True)) == [0, 0]


@pytest.mark.django_db
def test_staff_without_the_admin_role_cannot_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a stuck job; staff with every permission but another role; a viewer
    sent: list[int] = []
    monkeypatch.setattr(outbox, "_send", lambda message: sent.append(message.pk))
    stuck = job(age_seconds=600)
    not_admin = UserFactory(role=Role.VENDOR, is_staff=True, is_superuser=True)
    viewer = UserFactory(role=Role.ADMIN, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    # when
    refused = retry(login(not_admin), stuck)
    viewer_list = login(viewer).get(URL)
    viewer_retry = retry(login(viewer), stuck)
    edit = login(AdminFactory()).post(f"{URL}{stuck.pk}/change/", {"task_name": "x"})
    # then
    assert messages_of(refused) == [
        f"#{stuck.pk}: Only admins can do this.",
        "Republished: 0. Refused: 1.",
    ]
    assert viewer_list.status_code == 200
    assert viewer_list.context["action_form"] is None
    assert viewer_retry.status_code == 200
    assert messages_of(viewer_retry) == []
    assert edit.status_code == 403
    assert sent == []
    assert AuditEvent.objects.count() == 0
    stuck.refresh_from_db()
    assert (stuck.publish_attempts, stuck.published_at, stuck.task_name) == (
        0,
        None,
        "tally.test.nothing",
    )


@pytest.mark.django_db
def test_the_audit_log_is_listed_read_only(admin_user: User) -> None:
    # given
    vendor = VendorFactory(inactive=True)
    vendor_activate(actor=admin_user, vendor=vendor)
    client = login(admin_user)
    # when
    listing = client.get("/admin/platform/auditevent/")
    found = client.get("/admin/platform/auditevent/", {"q": str(vendor.pk)})
    missed = client.get("/admin/platform/auditevent/", {"q": "vendor.deactivated"})
    add = client.get("/admin/platform/auditevent/add/")
    # then
    assert listing.status_code == 200
    assert [event.action for event in listing.context["cl"].result_list] == ["vendor.activated"]
    assert [event.target_id for event in found.context["cl"].result_list] == [str(vendor.pk)]
    assert list(missed.context["cl"].result_list) == []
    assert add.status_code == 403
