"""Credit requests are decided in the admin only through actions that call the services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tally.credit.models import CreditRequest, CreditRequestStatus, CustomerCreditOperation
from tally.identity.models import Role, User, VendorProfile
from tally.identity.tests.factories import UserFactory
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db

URL = "/admin/credit/creditrequest/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def view_only_staff() -> User:
    """A staff member who may look at credit requests but not decide them."""
    user = UserFactory(role=Role.ADMIN, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_creditrequest"))
    return user


def test_the_approve_action_approves_through_the_service(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=7000, requested_by=vendor.user
    )
    # when
    response = login(admin_user).post(
        URL, {"action": "approve", "_selected_action": [str(credit_request.pk)]}
    )
    # then
    assert response.status_code == 302
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVING
    assert credit_request.decided_by == admin_user
    assert OutboxMessage.objects.count() == 1
    assert list(AuditEvent.objects.values_list("action", "actor")) == [
        ("credit_request.approved", admin_user.pk)
    ]


def test_the_reject_action_rejects_through_the_service(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=7000, requested_by=vendor.user
    )
    # when
    response = login(admin_user).post(
        URL, {"action": "reject", "_selected_action": [str(credit_request.pk)]}
    )
    # then
    assert response.status_code == 302
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.REJECTED
    assert OutboxMessage.objects.count() == 0
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["credit_request.rejected"]


def test_staff_who_may_only_view_cannot_decide(vendor: VendorProfile) -> None:
    # given
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=7000, requested_by=vendor.user
    )
    client = login(view_only_staff())
    # when
    listing = client.get(URL)
    approve = client.post(URL, {"action": "approve", "_selected_action": [str(credit_request.pk)]})
    # then: the page shows the request but offers no action, and the post changes nothing
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [credit_request]
    assert listing.context["action_form"] is None
    assert approve.status_code == 200
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.PENDING
    assert credit_request.decided_by is None
    assert OutboxMessage.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_credit_pages_never_add_edit_or_delete(admin_user: User, vendor: VendorProfile) -> None:
    # given
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=7000, requested_by=vendor.user
    )
    client = login(admin_user)
    # when
    add = client.get(f"{URL}add/")
    view = client.get(f"{URL}{credit_request.pk}/change/")
    edit = client.post(f"{URL}{credit_request.pk}/change/", {"status": "approved", "amount": "1"})
    delete = client.post(f"{URL}{credit_request.pk}/delete/", {"post": "yes"})
    operations = client.get("/admin/credit/customercreditoperation/")
    add_operation = client.get("/admin/credit/customercreditoperation/add/")
    # then
    assert add.status_code == 403
    assert view.status_code == 200
    assert b"Save" not in view.content
    assert edit.status_code == 403
    assert delete.status_code == 403
    assert operations.status_code == 200
    assert add_operation.status_code == 403
    credit_request.refresh_from_db()
    assert (credit_request.status, credit_request.amount) == (CreditRequestStatus.PENDING, 7000)
    assert CustomerCreditOperation.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
