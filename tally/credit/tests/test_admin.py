"""Credit requests are decided in the admin only through actions that call the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tally.credit import services
from tally.credit.models import CreditRequest, CreditRequestStatus, CustomerCreditOperation
from tally.identity.models import Role, User, VendorProfile
from tally.identity.tests.factories import AdminFactory, UserFactory, VendorFactory
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


# --- a request's page: the vendor's credit beside it, and the decision buttons -------------


def change_url(credit_request: CreditRequest) -> str:
    return f"{URL}{credit_request.pk}/change/"


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_page_shows_the_amount_the_vendor_balance_and_its_history(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given: the vendor has 1234.56 of credit from one increase and has sold 34.56
    increase = services.vendor_credit_increase(
        actor=admin_user, vendor=vendor, amount_minor=123456, reason="opening"
    )
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=250075, requested_by=vendor.user
    )
    # when
    page = login(admin_user).get(change_url(credit_request))
    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert "2500.75" in html
    assert "1234.56 USD" in html
    assert "(available 1234.56, pending 0.00)" in html
    assert f"/admin/ledger/transfer/{increase.transfer.pk}/change/" in html
    assert "credit_increase" in html
    assert "0 of 1" in html
    assert 'name="approve"' in html
    assert 'name="reject"' in html


def test_the_approve_button_needs_two_admins_above_the_threshold(
    admin_user: User, vendor: VendorProfile, settings: Any
) -> None:
    # given
    settings.CREDIT_SECOND_APPROVAL_ABOVE_MINOR = 10_000
    second_admin = AdminFactory()
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=10_001, requested_by=vendor.user
    )
    first, second = login(admin_user), login(second_admin)
    approve_url = f"{URL}{credit_request.pk}/approve/"
    # when: the first admin approves, then tries again, then a second admin approves
    first_try = first.post(approve_url, follow=True)
    after_first = CreditRequest.objects.get(pk=credit_request.pk)
    same_admin = first.post(approve_url, follow=True)
    after_same = CreditRequest.objects.get(pk=credit_request.pk)
    second_try = second.post(approve_url, follow=True)
    # then
    assert first_try.status_code == same_admin.status_code == second_try.status_code == 200
    assert first_try.redirect_chain == [(change_url(credit_request), 302)]
    assert messages_of(first_try) == [
        "First approval recorded; a different admin must approve it before the vendor is credited."
    ]
    assert after_first.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL
    assert after_first.first_approved_by == admin_user
    assert "1 of 2" in first_try.content.decode()
    assert messages_of(same_admin) == [
        "Not approved: You already approved this credit request; a different admin must give "
        "the second approval."
    ]
    assert (after_same.status, after_same.first_approved_at, after_same.decided_by) == (
        CreditRequestStatus.AWAITING_SECOND_APPROVAL,
        after_first.first_approved_at,
        None,
    )
    assert messages_of(second_try) == ["Approved; the vendor is being credited (asynchronously)."]
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVING
    assert credit_request.decided_by == second_admin
    assert OutboxMessage.objects.count() == 1
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor")) == [
        ("credit_request.first_approved", admin_user.pk),
        ("credit_request.approved", second_admin.pk),
    ]
    assert 'name="approve"' not in second_try.content.decode()


def test_the_reject_button_rejects_with_a_reason(admin_user: User, vendor: VendorProfile) -> None:
    # given
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=500, requested_by=vendor.user
    )
    # when
    response = login(admin_user).post(
        f"{URL}{credit_request.pk}/reject/", {"reason": "unpaid invoice"}, follow=True
    )
    # then
    assert messages_of(response) == ["Credit request rejected."]
    credit_request.refresh_from_db()
    assert (credit_request.status, credit_request.rejection_reason) == (
        CreditRequestStatus.REJECTED,
        "unpaid invoice",
    )
    assert list(AuditEvent.objects.values_list("action", "actor")) == [
        ("credit_request.rejected", admin_user.pk)
    ]


def test_a_refused_decision_is_a_message_not_an_error_page(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given: a rejected request
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=500, requested_by=vendor.user, status=CreditRequestStatus.REJECTED
    )
    # when
    response = login(admin_user).post(f"{URL}{credit_request.pk}/approve/", follow=True)
    # then
    assert response.status_code == 200
    assert messages_of(response) == [
        "Not approved: This credit request was rejected; it cannot be approved."
    ]
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.REJECTED
    assert OutboxMessage.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_the_decision_views_refuse_viewers_gets_and_unknown_requests(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=500, requested_by=vendor.user
    )
    viewer = login(view_only_staff())
    admin = login(admin_user)
    # when
    viewer_page = viewer.get(change_url(credit_request))
    viewer_approve = viewer.post(f"{URL}{credit_request.pk}/approve/")
    viewer_reject = viewer.post(f"{URL}{credit_request.pk}/reject/")
    get_approve = admin.get(f"{URL}{credit_request.pk}/approve/")
    unknown = admin.post(f"{URL}00000000-0000-0000-0000-000000000000/approve/")
    # then
    assert viewer_page.status_code == 200
    assert 'name="approve"' not in viewer_page.content.decode()
    assert viewer_approve.status_code == viewer_reject.status_code == 403
    assert get_approve.status_code == 405
    assert unknown.status_code == 404
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.PENDING
    assert OutboxMessage.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_the_approve_action_records_a_first_approval_above_the_threshold(
    admin_user: User, vendor: VendorProfile, settings: Any
) -> None:
    # given
    settings.CREDIT_SECOND_APPROVAL_ABOVE_MINOR = 10_000
    small = CreditRequest.objects.create(vendor=vendor, amount=100, requested_by=vendor.user)
    large = CreditRequest.objects.create(vendor=vendor, amount=20_000, requested_by=vendor.user)
    # when
    response = login(admin_user).post(
        URL,
        {"action": "approve", "_selected_action": [str(small.pk), str(large.pk)]},
        follow=True,
    )
    # then
    assert messages_of(response) == [
        "Approved (crediting asynchronously): 1. First approval recorded, a different admin "
        "must approve: 1. Refused: 0."
    ]
    small.refresh_from_db()
    large.refresh_from_db()
    assert small.status == CreditRequestStatus.APPROVING
    assert large.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL
    assert OutboxMessage.objects.count() == 1


def test_the_list_costs_the_same_queries_for_one_request_or_many(
    admin_user: User, django_assert_max_num_queries: Any
) -> None:
    # given: requests from several vendors, decided by several admins
    for _ in range(2):
        vendor = VendorFactory()
        credit_request = CreditRequest.objects.create(
            vendor=vendor, amount=500, requested_by=vendor.user
        )
        services.credit_request_reject(actor=AdminFactory(), credit_request=credit_request)
    client = login(admin_user)
    client.get(URL)  # warm the session and content-type caches
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for _ in range(5):
        vendor = VendorFactory()
        credit_request = CreditRequest.objects.create(
            vendor=vendor, amount=500, requested_by=vendor.user
        )
        services.credit_request_reject(actor=AdminFactory(), credit_request=credit_request)
    # when / then
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(response.context["cl"].result_list) == 7


def test_staff_without_the_admin_role_cannot_approve_or_reject(vendor: VendorProfile) -> None:
    """Holding the change permission is not enough: the services take decisions from admins
    only, so a staff member of another role gets a message and nothing changes."""
    # given
    staff = UserFactory(role=Role.CUSTOMER, is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_creditrequest"),
        Permission.objects.get(codename="change_creditrequest"),
    )
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=500, requested_by=vendor.user
    )
    client = login(staff)
    # when
    button = client.post(f"{URL}{credit_request.pk}/approve/", follow=True)
    reject = client.post(f"{URL}{credit_request.pk}/reject/", follow=True)
    action = client.post(
        URL, {"action": "approve", "_selected_action": [str(credit_request.pk)]}, follow=True
    )
    # then
    assert button.status_code == reject.status_code == action.status_code == 200
    assert messages_of(button) == ["Not approved: Only admins can do this."]
    assert messages_of(reject) == ["Not rejected: Only admins can do this."]
    assert messages_of(action) == [
        f"{credit_request.pk}: Only admins can do this.",
        "Approved (crediting asynchronously): 0. Refused: 1.",
    ]
    credit_request.refresh_from_db()
    assert (credit_request.status, credit_request.decided_by) == (CreditRequestStatus.PENDING, None)
    assert OutboxMessage.objects.count() == 0
    assert AuditEvent.objects.count() == 0


ALERTS_URL = "/admin/credit/vendorlowcreditalert/"


def test_an_admin_sets_a_vendors_low_credit_alert_through_the_service(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given
    client = login(admin_user)
    assert client.get(ALERTS_URL).status_code == 200
    page = f"{ALERTS_URL}{vendor.pk}/change/"
    assert client.get(page).status_code == 200
    # when
    response = client.post(
        page,
        {"threshold": "75.50", "alert_webhook_url": "https://shop.example/hooks/tally"},
        follow=True,
    )
    # then: stored, audited as through the API, the new secret shown once
    assert response.status_code == 200
    vendor.refresh_from_db()
    assert (vendor.low_credit_threshold, vendor.alert_webhook_url) == (
        75_50,
        "https://shop.example/hooks/tally",
    )
    assert vendor.alert_webhook_secret
    assert vendor.alert_webhook_secret in response.content.decode()
    event = AuditEvent.objects.get(action="vendor.low_credit_alert_updated")
    assert (event.actor_id, event.target_id) == (admin_user.pk, str(vendor.pk))
    assert event.changes["low_credit_threshold"] == [None, 75_50]
    # when: emptied, alerts are off
    client.post(page, {"threshold": "", "alert_webhook_url": "https://shop.example/hooks/tally"})
    vendor.refresh_from_db()
    assert vendor.low_credit_threshold is None


@pytest.mark.parametrize(
    "data",
    [
        {"threshold": "-1", "alert_webhook_url": ""},
        {"threshold": "1.005", "alert_webhook_url": ""},
        {"threshold": "5", "alert_webhook_url": "ftp://shop.example/x"},
    ],
)
def test_the_admin_form_refuses_bad_input_and_changes_nothing(
    admin_user: User, vendor: VendorProfile, data: dict[str, str]
) -> None:
    response = login(admin_user).post(f"{ALERTS_URL}{vendor.pk}/change/", data)
    assert response.status_code == 200  # the form again, with its errors
    assert response.context["adminform"].form.errors
    vendor.refresh_from_db()
    assert (vendor.low_credit_threshold, vendor.alert_webhook_url) == (None, "")
    assert not AuditEvent.objects.filter(action="vendor.low_credit_alert_updated").exists()


def test_staff_without_the_change_permission_cannot_set_alerts(vendor: VendorProfile) -> None:
    user = UserFactory(role=Role.ADMIN, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_vendorlowcreditalert"))
    response = login(user).post(f"{ALERTS_URL}{vendor.pk}/change/", {"threshold": "5"})
    assert response.status_code == 403
    vendor.refresh_from_db()
    assert vendor.low_credit_threshold is None
