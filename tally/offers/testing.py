"""Test helpers for every app that sells or reads offers: catalog rows, funded customer
wallets and the wallet's position read fresh. Imported by tests only."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET, ISSUANCE
from tally.identity.models import CustomerProfile
from tally.ledger import selectors as ledger_selectors
from tally.ledger import services as ledger
from tally.ledger.models import Account, Transfer
from tally.ledger.testing import FUNDING
from tally.offers.models import Offer, OfferKind


def offer_make(**fields: Any) -> Offer:
    """An active internet offer (price 500 minor units, 30 days) unless ``fields`` say else."""
    values: dict[str, Any] = {
        "name": "Internet 10 GB",
        "kind": OfferKind.INTERNET,
        "price": 500,
        "validity_days": 30,
        "data_mb": 10_240,
    }
    values.update(fields)
    return Offer.objects.create(**values)


def customer_wallet(customer: CustomerProfile) -> Account:
    """The customer's wallet account (opened if it does not exist yet)."""
    with transaction.atomic():
        return ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET)


def customer_fund(customer: CustomerProfile, amount_minor: int) -> Transfer:
    """Issue ``amount_minor`` into the customer's wallet, in a transaction of its own."""
    with transaction.atomic():
        return ledger.transfer_create(
            debit_account=ledger.account_system(kind=ISSUANCE),
            credit_account=ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET),
            amount_minor=amount_minor,
            code=FUNDING,
        ).transfer


def wallet_position(customer: CustomerProfile) -> tuple[int, int, int]:
    """(balance, pending, available) of the customer's wallet, read fresh."""
    found = ledger_selectors.account_balance(account=customer_wallet(customer))
    return found.balance, found.pending, found.available
