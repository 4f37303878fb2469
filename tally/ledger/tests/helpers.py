"""Small helpers shared by the ledger tests. Each write runs in its own use-case atomic."""

from __future__ import annotations

from django.db import transaction

from tally.identity.models import Role, User
from tally.identity.tests.factories import UserFactory
from tally.ledger import selectors, services
from tally.ledger.management.commands.verify_ledger import report_render_text
from tally.ledger.models import Account, AccountKind, Entry, Transfer, TransferCode
from tally.ledger.verification import ledger_verify


def owner(role: str = Role.VENDOR) -> User:
    return UserFactory(role=role)


def owned_account(kind: str = AccountKind.VENDOR_CREDIT, *, user: User | None = None) -> Account:
    with transaction.atomic():
        return services.account_get_or_create(owner=user or owner(), kind=kind)


def system_account(kind: str = AccountKind.ISSUANCE) -> Account:
    with transaction.atomic():
        return services.account_system(kind=kind)


def fund(account: Account, amount_minor: int) -> Transfer:
    """Issue ``amount_minor`` into ``account`` (issuance -> account)."""
    with transaction.atomic():
        return services.transfer_create(
            debit_account=services.account_system(kind=AccountKind.ISSUANCE),
            credit_account=account,
            amount_minor=amount_minor,
            code=TransferCode.CREDIT_INCREASE,
        )


def position(account: Account) -> tuple[int, int, int]:
    """(balance, pending, available) in minor units, read fresh from the database."""
    found = selectors.account_balance(account=account)
    return found.balance, found.pending, found.available


def row_counts() -> tuple[int, int]:
    return Transfer.objects.count(), Entry.objects.count()


def assert_ledger_verifies() -> None:
    report = ledger_verify()
    assert report.ok, report_render_text(report)
