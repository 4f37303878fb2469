"""The operator's admin console in a real browser: an admin runs verify_ledger from the
ledger's section and reads the clean report, and an admin refunds part of a paid order from
its payment's page. Real PostgreSQL, Redis and Celery worker behind pytest-django's live
server; screenshots under var/browser-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tally.credit.testing import customer_wallet_balance
from tally.identity.tests.factories import AdminFactory
from tally.ledger import testing as ledger_testing
from tally.ledger.models import VerificationRun
from tally.ledger.testing import assert_ledger_verifies, fund, owned_account
from tally.orders.models import OrderStatus
from tally.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from tally.payments.tests.test_refunds import _paid_by_wallet
from tally.platform.testing.race import wait_until
from tally.platform.tests.browser.test_admin_console import (
    Screens,
    expect,
    messages_on,
    signed_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_verifies_the_ledger_and_reads_the_clean_report(
    chromium: Any, live_server: Any, celery_worker: Any, artifacts: Path
) -> None:
    # given: some money in the books
    screens = Screens(artifacts)
    fund(owned_account(ledger_testing.PREPAID), 1_000)
    admin = AdminFactory(email="operator@tally.test")
    page = signed_in(chromium, live_server, admin)

    # when: the admin finds the page from the admin's index and runs it
    page.get_by_role("link", name="Verification runs").click()
    expect(page.locator("#latest-report")).to_contain_text("No run yet.")
    screens.take(page, "before-the-first-run")
    page.get_by_role("button", name="Verify the ledger now").click()
    expect(messages_on(page)).to_contain_text("Verification started")
    screens.take(page, "started")

    # then: the worker records the report and the page shows it clean
    wait_until(
        lambda: VerificationRun.objects.filter(finished_at__isnull=False).exists(),
        timeout_seconds=30,
        message="the worker never recorded the report",
    )
    page.reload()
    expect(page.locator("#latest-report")).to_contain_text("Clean: every check passed")
    expect(page.locator("#latest-report")).to_contain_text("account_balances")
    expect(page.locator("#result_list")).to_contain_text("clean")
    expect(page.locator("#result_list")).to_contain_text("operator@tally.test")
    screens.take(page, "clean-report")
    run = VerificationRun.objects.get()
    assert (run.requested_by, run.ok) == (admin, True)


def test_an_admin_refunds_part_of_a_paid_order(
    chromium: Any, live_server: Any, celery_worker: Any, artifacts: Path, settings: Any
) -> None:
    # given: a customer paid 50.78 from the wallet (45.50 of lines, 3.00 shipping, 2.28 tax)
    settings.PAYMENTS_COMMISSION_PERCENT = "10"
    settings.ORDER_TAX_RATE_PERCENT = "5"
    settings.ORDER_SHIPPING_FEE = "3.00"
    screens = Screens(artifacts)
    paid = _paid_by_wallet()
    page = signed_in(chromium, live_server, AdminFactory())

    # when: the admin finds the payment by the order's number and refunds 10.00 to the wallet
    page.goto("/admin/payments/payment/")
    page.fill("#searchbar", paid.order.number)
    page.keyboard.press("Enter")
    page.get_by_role("link", name=str(paid.payment.pk)).click()
    expect(page.locator(".field-money")).to_contain_text("50.78 USD paid, 0.00 refunded")
    screens.take(page, "payment")
    page.get_by_role("link", name="Refund…").click()
    page.get_by_label("An amount of the whole order").check()
    page.get_by_label("Amount", exact=True).fill("10.00")
    page.select_option("#id_destination", "wallet")
    page.fill("#id_reason", "one item arrived late")
    screens.take(page, "refund-form")
    page.get_by_role("button", name="Refund").click()

    # then: back on the payment's page, refunded in part, the wallet credited once
    expect(messages_on(page)).to_contain_text(
        "Refunded 10.00 USD (wallet); the order is partially_refunded."
    )
    expect(page.locator(".field-money")).to_contain_text("10.00 refunded (or being refunded)")
    expect(page.locator(".field-history")).to_contain_text("payment.partially_refunded")
    screens.take(page, "refunded")
    refund = Refund.objects.get()
    assert (refund.amount, refund.status, refund.reason) == (
        10_00,
        RefundStatus.SUCCEEDED,
        "one item arrived late",
    )
    payment = Payment.objects.select_related("order").get(pk=paid.payment.pk)
    assert (payment.status, payment.order.status) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        OrderStatus.PARTIALLY_REFUNDED,
    )
    assert customer_wallet_balance(paid.customer) == 100_00 - 50_78 + 10_00
    assert_ledger_verifies()
