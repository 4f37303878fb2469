"""Identity admin pages: activation through the services; profiles and keys are read-only."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings

from tally.identity.models import ApiKey, CustomerProfile, Role, User, VendorProfile
from tally.identity.tests.factories import (
    PASSWORD,
    CustomerFactory,
    PartnerFactory,
    UserFactory,
)
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

VENDORS = "/admin/identity/vendorprofile/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_activate_action_activates_through_the_service(
    admin_user: User, inactive_vendor: VendorProfile
) -> None:
    # given
    assert inactive_vendor.is_active is False
    # when
    response = login(admin_user).post(
        VENDORS, {"action": "activate", "_selected_action": [str(inactive_vendor.pk)]}
    )
    # then
    assert response.status_code == 302
    inactive_vendor.refresh_from_db()
    assert inactive_vendor.is_active is True
    assert inactive_vendor.activated_at is not None
    assert list(AuditEvent.objects.values_list("action", "actor", "changes")) == [
        ("vendor.activated", admin_user.pk, {"is_active": [False, True]})
    ]


def test_the_deactivate_action_deactivates_through_the_service(
    admin_user: User, vendor: VendorProfile
) -> None:
    # when
    response = login(admin_user).post(
        VENDORS, {"action": "deactivate", "_selected_action": [str(vendor.pk)]}
    )
    # then
    assert response.status_code == 302
    vendor.refresh_from_db()
    assert (vendor.is_active, vendor.activated_at) == (False, None)
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["vendor.deactivated"]


def test_staff_who_may_only_view_cannot_activate(inactive_vendor: VendorProfile) -> None:
    # given
    staff = UserFactory(role=Role.ADMIN, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_vendorprofile"))
    client = login(staff)
    # when
    listing = client.get(VENDORS)
    activate = client.post(
        VENDORS, {"action": "activate", "_selected_action": [str(inactive_vendor.pk)]}
    )
    # then
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [inactive_vendor]
    assert listing.context["action_form"] is None
    assert activate.status_code == 200
    inactive_vendor.refresh_from_db()
    assert (inactive_vendor.is_active, inactive_vendor.activated_at) == (False, None)
    assert AuditEvent.objects.count() == 0


def test_profiles_and_keys_cannot_be_added_edited_or_deleted(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given
    customer = CustomerFactory(phone="+14155550100")
    api_key = ApiKey.objects.create(user=vendor.user, name="till", prefix="abcd", key_hash="h")
    client = login(admin_user)
    customers = "/admin/identity/customerprofile/"
    keys = "/admin/identity/apikey/"
    # when
    responses = {
        "add vendor": client.get(f"{VENDORS}add/").status_code,
        "edit vendor": client.post(
            f"{VENDORS}{vendor.pk}/change/", {"business_name": "Renamed"}
        ).status_code,
        "delete vendor": client.post(f"{VENDORS}{vendor.pk}/delete/", {"post": "yes"}).status_code,
        "view customer": client.get(f"{customers}{customer.pk}/change/").status_code,
        "edit customer": client.post(
            f"{customers}{customer.pk}/change/", {"phone": "0415 555 0199"}
        ).status_code,
        "delete key": client.post(f"{keys}{api_key.pk}/delete/", {"post": "yes"}).status_code,
        "list keys": client.get(keys, {"q": "till"}).status_code,
    }
    # then
    assert responses == {
        "add vendor": 403,
        "edit vendor": 403,
        "delete vendor": 403,
        "view customer": 200,
        "edit customer": 403,
        "delete key": 403,
        "list keys": 200,
    }
    vendor.refresh_from_db()
    assert vendor.business_name.startswith("Vendor ")
    assert CustomerProfile.objects.get(pk=customer.pk).phone == "+14155550100"
    assert ApiKey.objects.filter(pk=api_key.pk).exists()
    assert AuditEvent.objects.count() == 0


def test_the_partner_page_never_shows_the_signing_secret(admin_user: User) -> None:
    # given
    partner = PartnerFactory(name="Acme Airtime", signing_secret="partner-signing-secret")
    # when
    page = login(admin_user).get(f"/admin/identity/partnerprofile/{partner.pk}/change/")
    # then
    assert page.status_code == 200
    assert "Acme Airtime" in page.content.decode()
    assert "partner-signing-secret" not in page.content.decode()


def test_the_api_key_pages_never_show_the_key_digest(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given
    digest = hashlib.sha256(b"tk_live_the-whole-key").hexdigest()
    api_key = ApiKey.objects.create(user=vendor.user, name="till", prefix="tk_ab", key_hash=digest)
    client = login(admin_user)
    # when
    listing = client.get("/admin/identity/apikey/")
    page = client.get(f"/admin/identity/apikey/{api_key.pk}/change/")
    # then
    assert (listing.status_code, page.status_code) == (200, 200)
    assert "tk_ab" in page.content.decode()
    assert digest not in listing.content.decode()
    assert digest not in page.content.decode()


ADMIN_LOGIN = "/admin/login/"


def admin_sign_in(client: Client, email: str, password: str) -> int:
    response = client.post(
        ADMIN_LOGIN, {"username": email, "password": password, "next": "/admin/"}
    )
    return response.status_code


@override_settings(TALLY_RATE_LIMITS={"login": "10/min", "login_address": "30/min"})
def test_the_admin_sign_in_is_throttled_like_the_api(
    admin_user: User, caplog: pytest.LogCaptureFixture
) -> None:
    # given: fifteen wrong passwords from one address
    client = Client()
    wrong = [admin_sign_in(client, admin_user.email, "wrong") for _ in range(15)]
    # when: the right one, within the window
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tally.identity.admin"):
        response = client.post(
            ADMIN_LOGIN, {"username": admin_user.email, "password": PASSWORD, "next": "/admin/"}
        )
    # then: refused with a clear message, not signed in, and logged
    assert wrong == [200] * 15
    assert response.status_code == 200
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    assert [record.getMessage() for record in caplog.records] == [
        "admin sign-in refused: too many attempts"
    ]
    # another address still signs in
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert admin_sign_in(elsewhere, admin_user.email, PASSWORD) == 302
    assert elsewhere.get("/admin/").status_code == 200


@override_settings(TALLY_RATE_LIMITS={"login": "10/min", "login_address": "5/min"})
def test_the_admin_sign_in_counts_attempts_per_address_whatever_the_email(
    admin_user: User,
) -> None:
    client = Client()
    for number in range(5):
        admin_sign_in(client, f"staff{number}@example.com", "wrong")
    assert admin_sign_in(client, admin_user.email, PASSWORD) == 200
    assert "_auth_user_id" not in client.session


# --- a vendor's page: activation buttons and links to its money ----------------------------


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_activate_and_deactivate_buttons_go_through_the_services(
    admin_user: User, inactive_vendor: VendorProfile
) -> None:
    # given
    client = login(admin_user)
    page = f"{VENDORS}{inactive_vendor.pk}/change/"
    before = client.get(page).content.decode()
    # when
    activated = client.post(f"{VENDORS}{inactive_vendor.pk}/activate/", follow=True)
    is_active_after_activate = VendorProfile.objects.get(pk=inactive_vendor.pk).is_active
    deactivated = client.post(f"{VENDORS}{inactive_vendor.pk}/deactivate/", follow=True)
    # then
    assert 'name="activate"' in before
    assert 'name="deactivate"' not in before
    assert activated.redirect_chain == [(page, 302)]
    assert messages_of(activated) == [f"{inactive_vendor.business_name} activated."]
    assert 'name="deactivate"' in activated.content.decode()
    assert is_active_after_activate is True
    assert messages_of(deactivated) == [f"{inactive_vendor.business_name} deactivated."]
    inactive_vendor.refresh_from_db()
    assert (inactive_vendor.is_active, inactive_vendor.activated_at) == (False, None)
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor")) == [
        ("vendor.activated", admin_user.pk),
        ("vendor.deactivated", admin_user.pk),
    ]


def test_a_refused_activation_is_a_message_and_changes_nothing(
    inactive_vendor: VendorProfile,
) -> None:
    """Staff holding the change permission but not the admin role: the service refuses, and
    the page says so (no error page), through the button and through the list's action."""
    # given
    staff = UserFactory(role=Role.CUSTOMER, is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_vendorprofile"),
        Permission.objects.get(codename="change_vendorprofile"),
    )
    client = login(staff)
    # when
    button = client.post(f"{VENDORS}{inactive_vendor.pk}/activate/", follow=True)
    action = client.post(
        VENDORS,
        {"action": "activate", "_selected_action": [str(inactive_vendor.pk)]},
        follow=True,
    )
    # then
    refusal = f"{inactive_vendor.business_name}: Only admins can do this."
    assert button.status_code == action.status_code == 200
    assert messages_of(button) == [refusal]
    assert messages_of(action) == [refusal]
    inactive_vendor.refresh_from_db()
    assert (inactive_vendor.is_active, inactive_vendor.activated_at) == (False, None)
    assert AuditEvent.objects.count() == 0


def test_the_buttons_refuse_viewers_gets_and_unknown_vendors(
    admin_user: User, inactive_vendor: VendorProfile
) -> None:
    # given
    viewer = UserFactory(role=Role.ADMIN, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_vendorprofile"))
    # when
    viewer_page = login(viewer).get(f"{VENDORS}{inactive_vendor.pk}/change/")
    viewer_post = login(viewer).post(f"{VENDORS}{inactive_vendor.pk}/activate/")
    admin_get = login(admin_user).get(f"{VENDORS}{inactive_vendor.pk}/activate/")
    unknown = login(admin_user).post(f"{VENDORS}00000000-0000-0000-0000-000000000000/activate/")
    # then
    assert viewer_page.status_code == 200
    assert 'name="activate"' not in viewer_page.content.decode()
    assert viewer_post.status_code == 403
    assert admin_get.status_code == 405
    assert unknown.status_code == 404
    inactive_vendor.refresh_from_db()
    assert inactive_vendor.is_active is False
    assert AuditEvent.objects.count() == 0


def test_the_vendor_page_links_to_its_ledger_accounts_and_credit_requests(
    admin_user: User, vendor: VendorProfile
) -> None:
    # when
    page = login(admin_user).get(f"{VENDORS}{vendor.pk}/change/").content.decode()
    # then
    assert f'href="/admin/ledger/account/?owner={vendor.pk}"' in page
    assert f'href="/admin/credit/creditrequest/?vendor={vendor.pk}"' in page
