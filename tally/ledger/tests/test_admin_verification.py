"""verify_ledger from the admin console: an admin's button asks a real worker to run the
command's checks, the run is recorded (who, when, result) and audited, the page shows the
newest report; anyone else is refused and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client

from tally.identity.models import Role, User
from tally.identity.tests.factories import AdminFactory, UserFactory
from tally.ledger import testing
from tally.ledger.models import VerificationRun
from tally.ledger.testing import fund, owned_account
from tally.ledger.verification_runs import VERIFY_TASK
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import wait_until

URL = "/admin/ledger/verificationrun/"
RUN_URL = f"{URL}run/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def finished(run_id: int) -> VerificationRun | None:
    return VerificationRun.objects.filter(pk=run_id, finished_at__isnull=False).first()


@pytest.mark.django_db(transaction=True)
def test_an_admin_runs_verify_ledger_and_sees_the_clean_report(celery_worker: Any) -> None:
    # given: a ledger with some movement, and an admin
    fund(owned_account(testing.PREPAID), 1_000)
    admin = AdminFactory()
    client = login(admin)
    # when
    started = client.post(RUN_URL, follow=True)
    run = VerificationRun.objects.get()
    done = wait_until(lambda: finished(run.pk), message="the worker never recorded the report")
    page = client.get(URL)
    detail = client.get(f"{URL}{run.pk}/change/")
    # then
    assert started.redirect_chain == [(URL, 302)]
    assert messages_of(started) == [
        "Verification started; a worker runs the checks and its report appears here."
    ]
    assert run.requested_by == admin
    assert done.ok is True
    assert done.error == ""
    assert [check["ok"] for check in done.report["checks"]] == [True] * len(done.report["checks"])
    assert done.report["counts"]["transfers"] == 1
    html = page.content.decode()
    assert "Clean</strong>: every check passed" in html
    assert "account_balances" in html
    assert f"run #{run.pk}, asked for by {admin}" in html
    assert detail.status_code == 200
    assert "Clean</strong>" in detail.content.decode()
    assert list(
        AuditEvent.objects.filter(target_id=str(run.pk))
        .order_by("id")
        .values_list("action", "actor", "changes")
    ) == [
        (
            "ledger_verification.requested",
            admin.pk,
            {"requested_at": [None, run.requested_at.isoformat()]},
        ),
        ("ledger_verification.finished", None, {"ok": [None, True]}),
    ]
    assert OutboxMessage.objects.get(task_name=VERIFY_TASK).processed_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_report_shows_each_mismatch(celery_worker: Any) -> None:
    # given: an account whose stored balance no longer matches its entries
    account = owned_account(testing.PREPAID)
    fund(account, 1_000)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [account.id]
        )
    client = login(AdminFactory())
    # when
    client.post(RUN_URL)
    run = wait_until(lambda: finished(VerificationRun.objects.get().pk))
    page = client.get(URL)
    # then
    assert run.ok is False
    failed = {check["name"]: check for check in run.report["checks"] if not check["ok"]}
    assert set(failed) >= {"account_balances", "zero_sum"}
    assert failed["account_balances"]["mismatches"] == 1
    assert failed["account_balances"]["sample"][0]["account_id"] == account.id
    assert failed["account_balances"]["sample"][0]["stored_balance"] == 1_001
    html = page.content.decode()
    assert "Mismatches</strong> in" in html
    assert "&quot;stored_balance&quot;: 1001" in html
    assert "mismatches: account_balances" in html


@pytest.mark.django_db
def test_a_second_run_while_one_is_in_flight_is_refused() -> None:
    # given: a run nobody has finished yet
    admin = AdminFactory()
    first = VerificationRun.objects.create(requested_by=admin)
    # when
    response = login(AdminFactory()).post(RUN_URL, follow=True)
    # then
    assert response.status_code == 200
    assert messages_of(response) == [
        "Not started: A verification is already running; its report will appear here when it ends."
    ]
    assert list(VerificationRun.objects.values_list("pk", flat=True)) == [first.pk]
    assert OutboxMessage.objects.count() == 0
    assert AuditEvent.objects.count() == 0
    assert "Running: the report appears here" in response.content.decode()


@pytest.mark.django_db
def test_staff_without_the_admin_role_cannot_run_it() -> None:
    # given: staff holding every permission but not the admin role, and a viewer
    not_admin = UserFactory(role=Role.CUSTOMER, is_staff=True, is_superuser=True)
    viewer = UserFactory(role=Role.ADMIN, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_verificationrun"))
    # when
    refused = login(not_admin).post(RUN_URL, follow=True)
    viewer_page = login(viewer).get(URL)
    viewer_post = login(viewer).post(RUN_URL)
    get = login(AdminFactory()).get(RUN_URL)
    # then
    assert messages_of(refused) == ["Not started: Only admins can do this."]
    assert viewer_page.status_code == 200
    assert 'name="verify"' not in viewer_page.content.decode()
    assert "No run yet." in viewer_page.content.decode()
    assert viewer_post.status_code == 403
    assert get.status_code == 405
    assert VerificationRun.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_runs_are_never_added_edited_or_deleted_by_hand(admin_user: User) -> None:
    # given
    run = VerificationRun.objects.create(requested_by=admin_user)
    client = login(admin_user)
    # when
    add = client.get(f"{URL}add/")
    edit = client.post(f"{URL}{run.pk}/change/", {"ok": "on"})
    delete = client.post(f"{URL}{run.pk}/delete/", {"post": "yes"})
    index = client.get("/admin/")
    # then
    assert add.status_code == edit.status_code == delete.status_code == 403
    run.refresh_from_db()
    assert (run.finished_at, run.ok) == (None, None)
    assert URL in index.content.decode()
