"""The admin console in a real browser: two admins approve a large credit request
(maker-checker), an admin activates a vendor, and an admin follows a vendor's money from its
page to a ledger transfer. Real PostgreSQL, Redis and Celery worker behind pytest-django's
live server; screenshots under var/browser-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tally.credit import services as credit_services
from tally.credit.ledger_vocabulary import VENDOR_PREPAID
from tally.credit.models import CreditRequestStatus
from tally.credit.testing import vendor_prepaid_balance
from tally.identity.models import User
from tally.identity.tests.factories import PASSWORD, AdminFactory, VendorFactory
from tally.ledger.models import Account
from tally.platform.audit.models import AuditEvent
from tally.platform.testing.race import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Maker-checker threshold for these tests: 10,000.00.
THRESHOLD_MINOR = 1_000_000


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


class Screens:
    """Numbered full-page screenshots of one test's steps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def take(self, page: Any, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def signed_in(chromium: Any, live_server: Any, user: User) -> Any:
    """A page in a browser context of its own (its own cookies), signed in to the admin."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#user-tools")).to_contain_text("Log out")
    return page


def messages_on(page: Any) -> Any:
    return page.locator("ul.messagelist")


def test_two_admins_approve_a_large_credit_request(
    chromium: Any, live_server: Any, celery_worker: Any, artifacts: Path, settings: Any
) -> None:
    # given: a vendor with 1,500.00 of credit asks for 25,000.00 (above the threshold)
    settings.CREDIT_SECOND_APPROVAL_ABOVE_MINOR = THRESHOLD_MINOR
    screens = Screens(artifacts)
    first_admin = AdminFactory(email="maker@tally.test")
    second_admin = AdminFactory(email="checker@tally.test")
    vendor = VendorFactory(business_name="Corner Shop")
    credit_services.vendor_credit_increase(
        actor=first_admin, vendor=vendor, amount_minor=150_000, reason="opening balance"
    )
    credit_request = credit_services.credit_request_create(
        vendor_user=vendor.user, amount_minor=2_500_000, note="invoice 2026-118"
    )

    # when: the first admin opens it from the list and approves it
    first = signed_in(chromium, live_server, first_admin)
    first.goto("/admin/credit/creditrequest/?status__exact=pending")
    first.get_by_role("link", name=str(credit_request.pk)).click()
    expect(first.locator(".field-amount_display")).to_contain_text("25000.00")
    expect(first.locator(".field-vendor_balance")).to_contain_text("1500.00 USD")
    expect(first.locator(".field-vendor_statement")).to_contain_text("credit_increase")
    expect(first.locator(".field-approvals_display")).to_contain_text("0 of 2")
    screens.take(first, "request-before-approval")
    first.get_by_role("button", name="Approve").click()
    expect(messages_on(first)).to_contain_text("First approval recorded")
    expect(first.locator(".field-approvals_display")).to_contain_text("1 of 2")
    screens.take(first, "first-approval-recorded")

    # and approves it again: refused, nothing changes
    first.get_by_role("button", name="Approve").click()
    expect(messages_on(first)).to_contain_text("a different admin must give the second approval")
    screens.take(first, "same-admin-refused")
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL
    assert credit_request.first_approved_by == first_admin
    assert credit_request.decided_by is None
    assert vendor_prepaid_balance(vendor) == 150_000

    # then a second admin, signed in separately, approves it
    second = signed_in(chromium, live_server, second_admin)
    second.goto(f"/admin/credit/creditrequest/{credit_request.pk}/change/")
    expect(second.locator("#credit-decision")).to_contain_text("maker@tally.test")
    second.get_by_role("button", name="Approve").click()
    expect(messages_on(second)).to_contain_text("the vendor is being credited")
    screens.take(second, "second-approval")

    # and the worker credits the vendor, once
    def credited() -> bool:
        credit_request.refresh_from_db()
        return credit_request.status == CreditRequestStatus.APPROVED

    wait_until(credited, timeout_seconds=30, message="the worker never credited the request")
    second.reload()
    expect(second.locator(".field-status")).to_contain_text("Approved")
    expect(second.locator(".field-vendor_balance")).to_contain_text("26500.00 USD")
    expect(second.locator(".field-approvals_display")).to_contain_text("2 of 2")
    expect(second.locator("#credit-decision")).to_have_count(0)
    screens.take(second, "credited")
    assert (credit_request.first_approved_by, credit_request.decided_by) == (
        first_admin,
        second_admin,
    )
    assert vendor_prepaid_balance(vendor) == 2_650_000
    assert list(
        AuditEvent.objects.filter(target_id=str(credit_request.pk))
        .order_by("id")
        .values_list("action", "actor")
    ) == [
        ("credit_request.created", vendor.user_id),
        ("credit_request.first_approved", first_admin.pk),
        ("credit_request.approved", second_admin.pk),
        ("credit_request.credited", None),
    ]
    first.context.close()
    second.context.close()


def test_an_admin_activates_a_vendor(chromium: Any, live_server: Any, artifacts: Path) -> None:
    # given
    screens = Screens(artifacts)
    admin_user = AdminFactory(email="ops@tally.test")
    vendor = VendorFactory(inactive=True, business_name="Night Market")
    page = signed_in(chromium, live_server, admin_user)
    # when
    page.goto("/admin/identity/vendorprofile/?is_active__exact=0")
    page.get_by_role("link", name="Night Market").click()
    screens.take(page, "inactive-vendor")
    page.get_by_role("button", name="Activate").click()
    # then
    expect(messages_on(page)).to_contain_text("Night Market activated.")
    expect(page.get_by_role("button", name="Deactivate")).to_be_visible()
    screens.take(page, "activated")
    vendor.refresh_from_db()
    assert vendor.is_active is True
    assert list(
        AuditEvent.objects.filter(target_id=str(vendor.pk)).values_list("action", "actor")
    ) == [("vendor.activated", admin_user.pk)]
    page.context.close()


def test_an_admin_follows_a_vendors_credit_to_its_ledger_transfer(
    chromium: Any, live_server: Any, artifacts: Path
) -> None:
    # given: a vendor given 4,200.00 of credit
    screens = Screens(artifacts)
    admin_user = AdminFactory(email="books@tally.test")
    vendor = VendorFactory(business_name="Harbour Kiosk")
    increase = credit_services.vendor_credit_increase(
        actor=admin_user, vendor=vendor, amount_minor=420_000, reason="opening balance"
    )
    account = Account.objects.get(owner=vendor.user, kind=VENDOR_PREPAID)
    page = signed_in(chromium, live_server, admin_user)
    # when: vendor page → its ledger accounts → the prepaid account → the transfer
    page.goto(f"/admin/identity/vendorprofile/{vendor.pk}/change/")
    screens.take(page, "vendor")
    page.get_by_role("link", name="Ledger accounts").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("th a").click()
    expect(page).to_have_url(re.compile(rf"/admin/ledger/account/{account.pk}/change/"))
    screens.take(page, "prepaid-account")
    page.locator(".field-recent_entries").get_by_role(
        "link", name=increase.transfer.reference, exact=True
    ).click()
    # then
    expect(page).to_have_url(re.compile(rf"/admin/ledger/transfer/{increase.transfer.pk}/change/"))
    expect(page.locator(".field-code")).to_contain_text("credit_increase")
    expect(page.locator(".field-amount")).to_contain_text("420000")
    expect(page.locator(".field-transfer_entries")).to_contain_text(str(account))
    screens.take(page, "transfer")
    page.context.close()
