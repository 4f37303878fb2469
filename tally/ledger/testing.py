"""Test helpers for the ledger and every app that moves money: a vocabulary of the ledger's
own (its tests know no feature), opening and funding accounts, reading positions, and the
assertion that the books verify. Imported by tests only."""

from __future__ import annotations

from typing import cast

from django.db import transaction

from tally.identity.models import Role, User
from tally.identity.tests.factories import UserFactory
from tally.ledger import selectors, services
from tally.ledger.management.commands.verify_ledger import report_render_text
from tally.ledger.models import Account, Entry, Transfer
from tally.ledger.verification import ledger_verify
from tally.ledger.vocabulary import (
    AccountKind,
    account_kind_register,
    transfer_code_register,
)

# The ledger's tests use kinds and codes of their own, registered like any feature's.
PREPAID = account_kind_register("test_prepaid", label="Test prepaid", owned=True)
WALLET = account_kind_register("test_wallet", label="Test wallet", owned=True)
UNFLOORED = account_kind_register(
    "test_unfloored", label="Test unfloored", owned=True, floored=False
)
ISSUANCE = account_kind_register("test_issuance", label="Test issuance", owned=False)
SETTLEMENT = account_kind_register("test_settlement", label="Test settlement", owned=False)
REVENUE = account_kind_register("test_revenue", label="Test revenue", owned=False)
FUNDING = transfer_code_register("test_funding", label="Test funding")
SALE = transfer_code_register("test_sale", label="Test sale")
PAYMENT = transfer_code_register("test_payment", label="Test payment")
ACTIVATION = transfer_code_register("test_activation", label="Test activation")
ADJUSTMENT = transfer_code_register("test_adjustment", label="Test adjustment")


def owner(role: str = Role.VENDOR) -> User:
    return cast(User, UserFactory(role=role))


def owned_account(kind: AccountKind | str = PREPAID, *, user: User | None = None) -> Account:
    with transaction.atomic():
        return services.account_get_or_create(owner=user or owner(), kind=kind)


def system_account(kind: AccountKind | str = ISSUANCE) -> Account:
    with transaction.atomic():
        return services.account_system(kind=kind)


def fund(account: Account, amount_minor: int, *, source: AccountKind | str = ISSUANCE) -> Transfer:
    """Issue ``amount_minor`` into ``account`` from the system account of ``source``, in a
    transaction of its own."""
    with transaction.atomic():
        return services.transfer_create(
            debit_account=services.account_system(kind=source),
            credit_account=account,
            amount_minor=amount_minor,
            code=FUNDING,
        ).transfer


def position(account: Account) -> tuple[int, int, int]:
    """(balance, pending, available) in minor units, read fresh from the database."""
    found = selectors.account_balance(account=account)
    return found.balance, found.pending, found.available


def row_counts() -> tuple[int, int]:
    """(transfers, entries) in the whole ledger."""
    return Transfer.objects.count(), Entry.objects.count()


def assert_ledger_verifies() -> None:
    report = ledger_verify()
    assert report.ok, report_render_text(report)
