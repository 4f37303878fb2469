"""Small helpers shared by the topups tests. Money moves only through the ledger services."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from tally.ledger import selectors as ledger_selectors
from tally.ledger.models import Account, Entry, Transfer
from tally.platform.audit.models import AuditEvent
from tally.topups.ledger_vocabulary import AIRTIME_SETTLEMENT
from tally.topups.models import ChargeSale, PhoneNumber


def settlement_balance() -> int:
    """The airtime settlement account's live balance (0 before its first entry)."""
    account = Account.objects.filter(
        owner__isnull=True, kind=AIRTIME_SETTLEMENT, currency=settings.TALLY_CURRENCY
    ).first()
    return 0 if account is None else ledger_selectors.account_balance(account=account).balance


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
