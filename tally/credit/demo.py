"""Demo credit: the active demo vendors hold credit; one credit request waits for an approval,
and one, above the second-approval threshold, for two (by two different admins)."""

from __future__ import annotations

from tally.credit import services
from tally.credit.ledger_vocabulary import VENDOR_PREPAID
from tally.credit.models import CreditRequest
from tally.identity.models import User, VendorProfile
from tally.ledger import selectors as ledger_selectors
from tally.platform.db import use_case
from tally.platform.demo import DemoAccount

DEMO_CREDIT_MINOR = {"vendor1@tally.local": 100_000, "vendor2@tally.local": 50_000}
# Above CREDIT_SECOND_APPROVAL_ABOVE_MINOR's default (10,000.00): two admins must approve it.
DEMO_LARGE_REQUEST_MINOR = 1_250_000


@use_case
def demo_data_load() -> list[DemoAccount]:
    admin = User.objects.get(email="admin@tally.local")
    for email, amount_minor in DEMO_CREDIT_MINOR.items():
        vendor = VendorProfile.objects.get(user__email=email)
        if ledger_selectors.account_find(owner_id=vendor.user_id, kind=VENDOR_PREPAID) is None:
            services.vendor_credit_increase(
                actor=admin, vendor=vendor, amount_minor=amount_minor, reason="demo data"
            )
    vendor1 = VendorProfile.objects.get(user__email="vendor1@tally.local")
    if not CreditRequest.objects.filter(vendor=vendor1).exists():
        services.credit_request_create(
            vendor_user=vendor1.user, amount_minor=25_000, note="demo request"
        )
    vendor2 = VendorProfile.objects.get(user__email="vendor2@tally.local")
    if not CreditRequest.objects.filter(vendor=vendor2).exists():
        services.credit_request_create(
            vendor_user=vendor2.user,
            amount_minor=DEMO_LARGE_REQUEST_MINOR,
            note="demo request needing two approvals",
        )
    return []
