"""Credit requests: submitted by vendors, approved by admins, credited exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tally.credit import services
from tally.credit.ledger_vocabulary import CREDIT_REQUEST
from tally.credit.models import CreditRequest, CreditRequestStatus
from tally.credit.testing import vendor_prepaid_balance
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import AdminFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.models import Transfer
from tally.ledger.verification import ledger_verify
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import run_concurrently, wait_until

User = get_user_model()


def balance_of(vendor: VendorProfile) -> int:
    return vendor_prepaid_balance(vendor)


def wait_for_status(credit_request: CreditRequest, status: str) -> None:
    def reached() -> bool:
        credit_request.refresh_from_db()
        return credit_request.status == status

    wait_until(reached, message=f"credit request never became {status}")


@pytest.mark.django_db
def test_vendor_submits_a_pending_request(vendor_client: APIClient, vendor: VendorProfile) -> None:
    # when
    response = vendor_client.post(
        "/api/v1/credit-requests/", {"amount": "100.50", "note": "weekly top-up"}
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["amount"], body["note"]) == ("pending", "100.50", "weekly top-up")
    assert CreditRequest.objects.get(pk=body["id"]).amount == 10050
    assert balance_of(vendor) == 0
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_inactive_vendor_cannot_request_credit(inactive_vendor: VendorProfile) -> None:
    response = authenticate(APIClient(), inactive_vendor.user).post(
        "/api/v1/credit-requests/", {"amount": "10"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "vendor_inactive"
    assert not CreditRequest.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "amount", ["-1", "0", "0.001", "abc", "", None, "1e5", "NaN", "Infinity", 10**20, True]
)
def test_bad_amounts_are_validation_errors(vendor_client: APIClient, amount: Any) -> None:
    response = vendor_client.post("/api/v1/credit-requests/", {"amount": amount}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert [e["field"] for e in response.json()["errors"]] == ["amount"]
    assert not CreditRequest.objects.exists()


def test_approval_is_accepted_then_credited_once_by_the_worker(celery_worker: Any) -> None:
    # given
    vendor = VendorFactory()
    admin = authenticate(APIClient(), AdminFactory())
    created = (
        authenticate(APIClient(), vendor.user)
        .post("/api/v1/credit-requests/", {"amount": "250.00"})
        .json()
    )
    # when
    response = admin.post(f"/api/v1/credit-requests/{created['id']}/approve/")
    # then
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    assert response["Location"] == f"/api/v1/credit-requests/{created['id']}/"
    credit_request = CreditRequest.objects.get(pk=created["id"])
    wait_for_status(credit_request, CreditRequestStatus.APPROVED)
    assert admin.get(f"/api/v1/credit-requests/{created['id']}/").json()["status"] == "approved"
    assert balance_of(vendor) == 25000
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1
    assert ledger_verify().ok


def test_twenty_concurrent_approvals_over_http_and_admin_credit_once(celery_worker: Any) -> None:
    # given
    vendor = VendorFactory()
    admin_user = AdminFactory()
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=7000, requested_by=vendor.user
    )

    def approve_over_api() -> int:
        client = authenticate(APIClient(), admin_user)
        return client.post(f"/api/v1/credit-requests/{credit_request.pk}/approve/").status_code

    def approve_in_admin() -> int:
        client = Client()
        client.force_login(admin_user)
        return client.post(
            "/admin/credit/creditrequest/",
            {"action": "approve", "_selected_action": [str(credit_request.pk)]},
        ).status_code

    # when: 15 API calls and 5 admin-action submissions race
    outcomes = run_concurrently(*[approve_over_api] * 15, *[approve_in_admin] * 5)
    statuses = [outcome.value or 0 for outcome in outcomes]

    # then
    assert sorted(set(statuses)) == [202, 302]
    wait_for_status(credit_request, CreditRequestStatus.APPROVED)
    wait_until(lambda: OutboxMessage.objects.filter(processed_at__isnull=False).exists())
    assert OutboxMessage.objects.count() == 1
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1
    assert balance_of(vendor) == 7000
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_redelivered_credit_job_credits_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed after its transaction committed but before it acknowledged the task
    gets the task redelivered: the processed marker committed with the credit, so the second
    run is a no-op. Here the same message is executed three times by real task code."""
    # given
    vendor = VendorFactory()
    admin = AdminFactory()
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=1234, requested_by=vendor.user
    )
    services.credit_request_approve(actor=admin, credit_request=credit_request)
    message = OutboxMessage.objects.get()
    # A run that fails fails the test (no eager retry until it happens to pass).
    monkeypatch.setattr(services.credit_request_credit, "max_retries", 0)
    # when
    for _ in range(3):
        services.credit_request_credit.apply(
            kwargs={"message_id": message.id, **message.payload}
        ).get()
    # then
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVED
    assert balance_of(vendor) == 1234
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_messages_for_one_request_still_credit_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a second job for the same request (e.g. an operator re-enqueued it by hand)
    vendor = VendorFactory()
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=500, requested_by=vendor.user
    )
    services.credit_request_approve(actor=AdminFactory(), credit_request=credit_request)
    from django.db import transaction

    with transaction.atomic():
        services.outbox_enqueue(
            task_name=services.CREDIT_REQUEST_TASK,
            payload={"credit_request_id": str(credit_request.pk)},
        )
    monkeypatch.setattr(services.credit_request_credit, "max_retries", 0)
    # when: both run, neither fails
    for message in OutboxMessage.objects.order_by("id"):
        services.credit_request_credit.apply(
            kwargs={"message_id": message.id, **message.payload}
        ).get()
    # then
    assert balance_of(vendor) == 500
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1


@pytest.mark.django_db
def test_reject_then_approve_is_invalid_state(
    admin_client: APIClient, vendor: VendorProfile
) -> None:
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=100, requested_by=vendor.user
    )
    rejected = admin_client.post(
        f"/api/v1/credit-requests/{credit_request.pk}/reject/", {"reason": "no payment"}
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    response = admin_client.post(f"/api/v1/credit-requests/{credit_request.pk}/approve/")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert not OutboxMessage.objects.exists()
    assert (
        admin_client.post(f"/api/v1/credit-requests/{credit_request.pk}/reject/").status_code == 200
    )


@pytest.mark.django_db
def test_approved_request_cannot_be_rejected(
    admin_client: APIClient, vendor: VendorProfile
) -> None:
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=100, requested_by=vendor.user
    )
    assert (
        admin_client.post(f"/api/v1/credit-requests/{credit_request.pk}/approve/").status_code
        == 202
    )
    response = admin_client.post(f"/api/v1/credit-requests/{credit_request.pk}/reject/")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVING


@pytest.mark.django_db
def test_lists_filter_by_status_and_owner(
    admin_client: APIClient, vendor_client: APIClient, vendor: VendorProfile
) -> None:
    other = VendorFactory()
    mine = CreditRequest.objects.create(vendor=vendor, amount=100, requested_by=vendor.user)
    CreditRequest.objects.create(
        vendor=other, amount=100, requested_by=other.user, status=CreditRequestStatus.REJECTED
    )
    assert [r["id"] for r in vendor_client.get("/api/v1/credit-requests/").json()["results"]] == [
        str(mine.pk)
    ]
    assert len(admin_client.get("/api/v1/credit-requests/").json()["results"]) == 2
    assert len(admin_client.get("/api/v1/credit-requests/?status=rejected").json()["results"]) == 1
    assert admin_client.get("/api/v1/credit-requests/?status=bogus").status_code == 400
    other_id = CreditRequest.objects.get(vendor=other).pk
    assert vendor_client.get(f"/api/v1/credit-requests/{other_id}/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "list_status", "create_status", "approve_status"),
    [
        ("admin", 200, 403, 202),
        ("vendor", 200, 201, 403),
        ("customer", 403, 403, 403),
        ("partner", 403, 403, 403),
        ("anonymous", 401, 401, 401),
    ],
)
def test_permissions(
    role: str, list_status: int, create_status: int, approve_status: int, request: Any
) -> None:
    vendor = VendorFactory()
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=100, requested_by=vendor.user
    )
    client = APIClient() if role == "anonymous" else request.getfixturevalue(f"{role}_client")
    if role == "vendor":
        # the vendor fixture is another vendor: it must not see or act on this request
        assert client.get(f"/api/v1/credit-requests/{credit_request.pk}/").status_code == 404
    assert client.get("/api/v1/credit-requests/").status_code == list_status
    assert client.post("/api/v1/credit-requests/", {"amount": "5"}).status_code == create_status
    assert (
        client.post(f"/api/v1/credit-requests/{credit_request.pk}/approve/").status_code
        == approve_status
    )
