"""A refused sale writes nothing, even inside a caller's transaction that goes on and
commits: no sale row, no newly registered number, no ledger rows."""

from __future__ import annotations

import pytest
from django.db import transaction

from tally.credit.testing import vendor_fund, vendor_prepaid_balance
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.ledger.exceptions import InsufficientFundsError
from tally.ledger.testing import assert_ledger_verifies
from tally.topups.models import PhoneNumber
from tally.topups.services import charge_sale_create
from tally.topups.tests.helpers import row_counts

pytestmark = pytest.mark.django_db(transaction=True)

NEW_NUMBER = "+8801711000999"


def refused_inside_a_callers_transaction(vendor: VendorProfile) -> None:
    """The caller catches the refusal and commits its own transaction."""
    with transaction.atomic():
        with pytest.raises(InsufficientFundsError):
            charge_sale_create(vendor=vendor, phone_number=NEW_NUMBER, amount_minor=5_000)
        VendorProfile.objects.filter(pk=vendor.pk).update(business_name="still here")


@pytest.mark.parametrize("first_sale", [True, False], ids=["first-sale", "later-sale"])
def test_a_refused_sale_in_a_callers_transaction_leaves_nothing_behind(first_sale: bool) -> None:
    # given: a vendor whose credit does not cover the sale; the settlement account exists
    # already unless this is the system's first sale
    vendor = VendorFactory()
    vendor_fund(vendor, 1_000)
    if not first_sale:
        charge_sale_create(vendor=vendor, phone_number="+8801711000001", amount_minor=100)
    before = row_counts()
    # when
    refused_inside_a_callers_transaction(vendor)
    # then: the caller's own write committed, the sale wrote nothing at all
    assert VendorProfile.objects.get(pk=vendor.pk).business_name == "still here"
    assert not PhoneNumber.objects.filter(number=NEW_NUMBER).exists()
    assert row_counts() == before
    assert vendor_prepaid_balance(vendor) == (1_000 if first_sale else 900)
    assert_ledger_verifies()
