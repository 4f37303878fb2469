"""Maker-checker: a credit request above CREDIT_SECOND_APPROVAL_ABOVE_MINOR is credited only
after two approvals by two different admins; at or below it, one approval credits as before."""

from __future__ import annotations

import os
import subprocess  # nosec B404  # runs this interpreter only
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from tally.credit import services
from tally.credit.ledger_vocabulary import CREDIT_REQUEST
from tally.credit.models import CreditRequest, CreditRequestStatus
from tally.credit.testing import vendor_prepaid_balance
from tally.identity.models import User, VendorProfile
from tally.identity.tests.factories import AdminFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.models import Transfer
from tally.ledger.verification import ledger_verify
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import run_concurrently, wait_until

THRESHOLD = 10_000  # 100.00


@pytest.fixture(autouse=True)
def _threshold(settings: Any) -> None:
    settings.CREDIT_SECOND_APPROVAL_ABOVE_MINOR = THRESHOLD


def new_request(vendor: VendorProfile, amount_minor: int) -> CreditRequest:
    return CreditRequest.objects.create(
        vendor=vendor, amount=amount_minor, requested_by=vendor.user
    )


def approve(admin: User, credit_request: CreditRequest) -> Any:
    return authenticate(APIClient(), admin).post(
        f"/api/v1/credit-requests/{credit_request.pk}/approve/"
    )


def audit_actions(credit_request: CreditRequest) -> list[tuple[str, Any]]:
    return list(
        AuditEvent.objects.filter(target_id=str(credit_request.pk))
        .order_by("id")
        .values_list("action", "actor")
    )


def wait_for_status(credit_request: CreditRequest, status: str) -> None:
    def reached() -> bool:
        credit_request.refresh_from_db()
        return credit_request.status == status

    wait_until(reached, message=f"credit request never became {status}")


@pytest.mark.django_db
@pytest.mark.parametrize("amount_minor", [THRESHOLD - 1, THRESHOLD])
def test_at_or_below_the_threshold_one_approval_queues_the_credit(
    amount_minor: int, vendor: VendorProfile
) -> None:
    # given
    admin = AdminFactory()
    credit_request = new_request(vendor, amount_minor)
    # when
    response = approve(admin, credit_request)
    # then
    assert response.status_code == 202
    body = response.json()["credit_request"]
    assert body["status"] == "approving"
    assert body["approvals_required"] == 1
    assert [a["admin_id"] for a in body["approvals"]] == [str(admin.pk)]
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVING
    assert (credit_request.decided_by, credit_request.first_approved_by) == (admin, None)
    assert OutboxMessage.objects.count() == 1
    assert audit_actions(credit_request) == [("credit_request.approved", admin.pk)]


@pytest.mark.django_db
def test_above_the_threshold_the_first_approval_is_only_recorded(vendor: VendorProfile) -> None:
    # given
    admin = AdminFactory()
    credit_request = new_request(vendor, THRESHOLD + 1)
    before = authenticate(APIClient(), admin).get(f"/api/v1/credit-requests/{credit_request.pk}/")
    # when
    response = approve(admin, credit_request)
    # then
    assert before.json()["approvals_required"] == 2
    assert before.json()["approvals"] == []
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    body = response.json()["credit_request"]
    assert body["status"] == "awaiting_second_approval"
    assert body["approvals_required"] == 2
    assert [a["admin_id"] for a in body["approvals"]] == [str(admin.pk)]
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL
    assert credit_request.first_approved_by == admin
    assert credit_request.first_approved_at is not None
    assert credit_request.decided_by is None
    assert not OutboxMessage.objects.exists()
    assert audit_actions(credit_request) == [("credit_request.first_approved", admin.pk)]
    listed = authenticate(APIClient(), admin).get(
        "/api/v1/credit-requests/?status=awaiting_second_approval"
    )
    assert [r["id"] for r in listed.json()["results"]] == [str(credit_request.pk)]


@pytest.mark.django_db
def test_the_same_admin_approving_twice_is_refused_and_changes_nothing(
    vendor: VendorProfile,
) -> None:
    # given
    admin = AdminFactory()
    credit_request = new_request(vendor, THRESHOLD + 1)
    assert approve(admin, credit_request).status_code == 202
    credit_request.refresh_from_db()
    first_approved_at = credit_request.first_approved_at
    # when
    response = approve(admin, credit_request)
    # then
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (403, "second_approver_required")
    assert "different admin" in problem["detail"]
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL
    assert credit_request.first_approved_by == admin
    assert credit_request.first_approved_at == first_approved_at
    assert (credit_request.decided_by, credit_request.decided_at) == (None, None)
    assert not OutboxMessage.objects.exists()
    assert audit_actions(credit_request) == [("credit_request.first_approved", admin.pk)]
    assert vendor_prepaid_balance(vendor) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("rejecter", ["first_approver", "another_admin"])
def test_a_request_awaiting_its_second_approval_can_be_rejected(
    rejecter: str, vendor: VendorProfile
) -> None:
    # given
    first = AdminFactory()
    credit_request = new_request(vendor, THRESHOLD + 1)
    approve(first, credit_request)
    admin = first if rejecter == "first_approver" else AdminFactory()
    client = authenticate(APIClient(), admin)
    # when
    rejected = client.post(
        f"/api/v1/credit-requests/{credit_request.pk}/reject/", {"reason": "not paid"}
    )
    approved_after = approve(AdminFactory(), credit_request)
    # then
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["rejection_reason"] == "not paid"
    assert approved_after.status_code == 409
    assert approved_after.json()["code"] == "invalid_state"
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.REJECTED
    assert credit_request.decided_by == admin
    assert not OutboxMessage.objects.exists()
    assert audit_actions(credit_request) == [
        ("credit_request.first_approved", first.pk),
        ("credit_request.rejected", admin.pk),
    ]


@pytest.mark.django_db
def test_the_database_refuses_a_request_approved_twice_by_one_admin(
    vendor: VendorProfile,
) -> None:
    """Maker-checker is a constraint too: no code path can store one admin as both
    approvers of a request that is being credited."""
    # given
    admin = AdminFactory()
    credit_request = new_request(vendor, THRESHOLD + 1)
    services.credit_request_approve(actor=admin, credit_request=credit_request)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditRequest.objects.filter(pk=credit_request.pk).update(
            status=CreditRequestStatus.APPROVING, decided_by=admin, decided_at=timezone.now()
        )
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL


def test_two_different_admins_credit_the_vendor_exactly_once(celery_worker: Any) -> None:
    # given
    vendor = VendorFactory()
    first, second = AdminFactory(), AdminFactory()
    credit_request = new_request(vendor, THRESHOLD + 50)
    # when
    first_response = approve(first, credit_request)
    second_response = approve(second, credit_request)
    # then
    assert (first_response.status_code, second_response.status_code) == (202, 202)
    assert second_response.json()["credit_request"]["status"] == "approving"
    wait_for_status(credit_request, CreditRequestStatus.APPROVED)
    assert vendor_prepaid_balance(vendor) == THRESHOLD + 50
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1
    assert OutboxMessage.objects.count() == 1
    assert (credit_request.first_approved_by, credit_request.decided_by) == (first, second)
    shown = authenticate(APIClient(), vendor.user).get(
        f"/api/v1/credit-requests/{credit_request.pk}/"
    )
    assert shown.json()["status"] == "approved"
    assert [a["admin_id"] for a in shown.json()["approvals"]] == [str(first.pk), str(second.pk)]
    assert audit_actions(credit_request) == [
        ("credit_request.first_approved", first.pk),
        ("credit_request.approved", second.pk),
        ("credit_request.credited", None),
    ]
    assert ledger_verify().ok


def test_concurrent_second_approvals_by_different_admins_credit_once(celery_worker: Any) -> None:
    # given: a request approved once, then three more admins (and the first one again) racing
    vendor = VendorFactory()
    first = AdminFactory()
    others = [AdminFactory() for _ in range(3)]
    credit_request = new_request(vendor, THRESHOLD * 3)
    assert approve(first, credit_request).status_code == 202
    # when
    outcomes = run_concurrently(
        *[lambda admin=admin: approve(admin, credit_request).status_code for admin in others],
        lambda: approve(first, credit_request).status_code,
        times=3,
    )
    # then: each other admin is answered 202 (one moved it, the rest changed nothing); the
    # first approver is refused while it still awaits a second approval, and answered 202
    # with nothing changed once it is approving; one job, one transfer, one credit
    assert [outcome.error for outcome in outcomes] == [None] * 12
    statuses = [outcome.value for outcome in outcomes]
    by_others = [status for index, status in enumerate(statuses) if index % 4 != 3]
    by_first = [status for index, status in enumerate(statuses) if index % 4 == 3]
    assert by_others == [202] * 9
    assert set(by_first) <= {202, 403}
    wait_for_status(credit_request, CreditRequestStatus.APPROVED)
    wait_until(lambda: OutboxMessage.objects.filter(processed_at__isnull=False).exists())
    assert OutboxMessage.objects.count() == 1
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1
    assert vendor_prepaid_balance(vendor) == THRESHOLD * 3
    assert credit_request.first_approved_by == first
    assert credit_request.decided_by in others
    actions = [action for action, _ in audit_actions(credit_request)]
    assert actions == [
        "credit_request.first_approved",
        "credit_request.approved",
        "credit_request.credited",
    ]
    assert ledger_verify().ok


@pytest.mark.parametrize(("configured", "expected"), [(None, 1_000_000), ("250000", 250_000)])
def test_the_threshold_is_read_from_the_environment(configured: str | None, expected: int) -> None:
    # given: a fresh process loading the settings (nothing is connected to), with or
    # without the variable
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "config.django.test",
        "DATABASE_URL": "postgres://localhost/settings-only",
        "REDIS_URL": "redis://localhost:6379/0",
    }
    if configured is not None:
        env["CREDIT_SECOND_APPROVAL_ABOVE_MINOR"] = configured
    # when
    shown = subprocess.run(  # nosec B603  # this interpreter, fixed arguments
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.CREDIT_SECOND_APPROVAL_ABOVE_MINOR)",
        ],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # then
    assert int(shown.stdout.strip()) == expected
