"""Small helpers shared by the topups tests. Money moves only through the ledger services."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from tally.identity.models import VendorProfile
from tally.ledger import selectors as ledger_selectors
from tally.ledger import services as ledger
from tally.ledger.management.commands.verify_ledger import report_render_text
from tally.ledger.models import Account, AccountKind, Entry, Transfer, TransferCode
from tally.ledger.verification import ledger_verify
from tally.platform.audit.models import AuditEvent
from tally.topups.models import ChargeSale, PhoneNumber


def credit_vendor(vendor: VendorProfile, amount_minor: int) -> None:
    """Issue ``amount_minor`` of credit to the vendor (issuance -> vendor credit)."""
    with transaction.atomic():
        ledger.transfer_create(
            debit_account=ledger.account_system(kind=AccountKind.ISSUANCE),
            credit_account=ledger.account_get_or_create(
                owner=vendor.user, kind=AccountKind.VENDOR_CREDIT
            ),
            amount_minor=amount_minor,
            code=TransferCode.CREDIT_INCREASE,
        )


def _balance(account: Account | None) -> int:
    return 0 if account is None else ledger_selectors.account_balance(account=account).balance


def credit_balance(vendor: VendorProfile) -> int:
    """The vendor's posted credit in minor units (0 without an account); creates nothing."""
    return _balance(
        Account.objects.filter(
            owner_id=vendor.user_id,
            kind=AccountKind.VENDOR_CREDIT,
            currency=settings.TALLY_CURRENCY,
        ).first()
    )


def settlement_balance() -> int:
    """The airtime settlement account's live balance (0 before its first entry)."""
    return _balance(
        Account.objects.filter(
            owner__isnull=True,
            kind=AccountKind.AIRTIME_SETTLEMENT,
            currency=settings.TALLY_CURRENCY,
        ).first()
    )


@dataclass(frozen=True)
class Counts:
    sales: int
    phone_numbers: int
    transfers: int
    entries: int
    accounts: int
    audit_events: int


def row_counts() -> Counts:
    return Counts(
        sales=ChargeSale.objects.count(),
        phone_numbers=PhoneNumber.objects.count(),
        transfers=Transfer.objects.count(),
        entries=Entry.objects.count(),
        accounts=Account.objects.count(),
        audit_events=AuditEvent.objects.count(),
    )


def assert_ledger_verifies() -> None:
    report = ledger_verify()
    assert report.ok, report_render_text(report)
