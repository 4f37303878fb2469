from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tally.credit.models import CreditRequest
from tally.credit.selectors import credit_request_approvals_required
from tally.credit.testing import customer_wallet_balance, vendor_prepaid_balance
from tally.identity.models import CustomerProfile, User, VendorProfile
from tally.ledger.verification import ledger_verify
from tally.offers.models import Offer

pytestmark = pytest.mark.django_db


@override_settings(TALLY_DEMO_DATA=True)
def test_demo_data_loads_idempotently() -> None:
    for _ in range(2):
        out = io.StringIO()
        call_command("demo_data", stdout=out)
    assert "vendor1@tally.local" in out.getvalue()
    assert User.objects.filter(email__endswith="@tally.local").count() == 8
    vendor1 = VendorProfile.objects.get(user__email="vendor1@tally.local")
    # 1000.00 issued, 120.00 of it moved into the two demo customers' wallets (offers' demo)
    assert vendor_prepaid_balance(vendor1) == 100_000 - 120_00
    assert [
        customer_wallet_balance(CustomerProfile.objects.get(user__email=email))
        for email in ("customer1@tally.local", "customer2@tally.local")
    ] == [100_00, 20_00]
    assert Offer.objects.filter(is_active=True).count() == 5
    assert CreditRequest.objects.filter(vendor=vendor1).count() == 1
    # a second admin, and a request only two different admins can approve
    assert User.objects.filter(email__endswith="@tally.local", role="admin").count() == 2
    large = CreditRequest.objects.get(vendor__user__email="vendor2@tally.local")
    assert (large.amount, large.status) == (1_250_000, "pending")
    assert credit_request_approvals_required(credit_request=large) == 2
    assert not VendorProfile.objects.get(user__email="vendor3@tally.local").is_active
    assert ledger_verify().ok


def test_demo_data_refuses_outside_development_settings() -> None:
    with pytest.raises(CommandError):
        call_command("demo_data", stdout=io.StringIO())
    assert not User.objects.exists()
