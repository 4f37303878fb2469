"""Test helpers for every app that needs funded vendors or reads their money: prepaid credit
issued through the ledger, balances read fresh from the database. Imported by tests only."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.db import transaction

from tally.credit.ledger_vocabulary import (
    CREDIT_INCREASE,
    CUSTOMER_WALLET,
    ISSUANCE,
    VENDOR_PREPAID,
)
from tally.identity.models import CustomerProfile, VendorProfile
from tally.ledger import selectors as ledger_selectors
from tally.ledger import services as ledger
from tally.ledger.models import Account, Transfer
from tally.ledger.vocabulary import AccountKind


def vendor_fund(vendor: VendorProfile, amount_minor: int) -> Transfer:
    """Issue ``amount_minor`` of prepaid credit to ``vendor`` (issuance → its prepaid
    account), in a transaction of its own, as an admin's credit increase would."""
    with transaction.atomic():
        return ledger.transfer_create(
            debit_account=ledger.account_system(kind=ISSUANCE),
            credit_account=ledger.account_get_or_create(owner=vendor.user, kind=VENDOR_PREPAID),
            amount_minor=amount_minor,
            code=CREDIT_INCREASE,
        ).transfer


def owned_balance(owner_id: UUID, kind: AccountKind) -> int:
    """The posted balance of the owner's account of ``kind``, read fresh (0 before it
    exists); creates nothing."""
    account = Account.objects.filter(
        owner_id=owner_id, kind=kind, currency=settings.TALLY_CURRENCY
    ).first()
    return 0 if account is None else ledger_selectors.account_balance(account=account).balance


def vendor_prepaid_balance(vendor: VendorProfile) -> int:
    return owned_balance(vendor.user_id, VENDOR_PREPAID)


def customer_wallet_balance(customer: CustomerProfile) -> int:
    return owned_balance(customer.user_id, CUSTOMER_WALLET)
