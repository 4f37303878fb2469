"""System-account roll-up keeps derived balances exact; statements page by keyset."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from tally.ledger import selectors, services, tasks, testing
from tally.ledger.models import Account, Entry
from tally.ledger.testing import assert_ledger_verifies, fund, position
from tally.platform.exceptions import NotFoundError

pytestmark = pytest.mark.django_db


def sell(vendor: Account, settlement: Account, amount_minor: int) -> None:
    with transaction.atomic():
        services.transfer_create(
            debit_account=vendor,
            credit_account=settlement,
            amount_minor=amount_minor,
            code=testing.SALE,
        )


def roll_up(account: Account) -> int:
    with transaction.atomic():
        return services.account_roll_up(account=account)


def test_roll_up_folds_entries_into_the_snapshot_and_keeps_the_balance(
    vendor_credit: Account, settlement: Account
) -> None:
    # given
    fund(vendor_credit, 1_000)
    sell(vendor_credit, settlement, 100)
    sell(vendor_credit, settlement, 200)
    # when
    folded = roll_up(settlement)
    # then
    settlement.refresh_from_db()
    last_entry = Entry.objects.filter(account=settlement).order_by("-id").first()
    assert folded == 2
    assert last_entry is not None
    assert (settlement.balance, settlement.rolled_up_to_entry_id) == (300, last_entry.id)
    assert position(settlement) == (300, 0, 300)
    # and entries after the cut still count
    sell(vendor_credit, settlement, 50)
    assert position(settlement) == (350, 0, 350)
    assert roll_up(settlement) == 1
    assert roll_up(settlement) == 0
    settlement.refresh_from_db()
    assert settlement.balance == 350
    assert position(settlement) == (350, 0, 350)
    assert_ledger_verifies()


def test_owned_accounts_are_not_rolled_up(vendor_credit: Account) -> None:
    with pytest.raises(ValueError, match="only system accounts"), transaction.atomic():
        services.account_roll_up(account=vendor_credit)


@pytest.mark.django_db(transaction=True)
def test_beat_roll_up_covers_every_system_account(
    vendor_credit: Account, settlement: Account, issuance: Account
) -> None:
    # given
    fund(vendor_credit, 1_000)
    sell(vendor_credit, settlement, 400)
    # when
    folded = tasks.ledger_roll_up()
    # then
    issuance.refresh_from_db()
    settlement.refresh_from_db()
    assert folded == 2
    assert (issuance.balance, settlement.balance) == (-1_000, 400)
    assert position(issuance) == (-1_000, 0, -1_000)
    assert_ledger_verifies()


def test_statement_pages_newest_first_with_running_balance(
    vendor_credit: Account, settlement: Account
) -> None:
    # given
    fund(vendor_credit, 1_000)
    for amount in (10, 20, 30, 40):
        sell(vendor_credit, settlement, amount)
    # when
    first = selectors.account_statement(account=vendor_credit, limit=2)
    second = selectors.account_statement(
        account=vendor_credit, before_entry_id=first.next_before_entry_id, limit=2
    )
    third = selectors.account_statement(
        account=vendor_credit, before_entry_id=second.next_before_entry_id, limit=2
    )
    # then
    assert [(e.amount, e.balance_after) for e in first.entries] == [(-40, 900), (-30, 940)]
    assert [(e.amount, e.balance_after) for e in second.entries] == [(-20, 970), (-10, 990)]
    assert [(e.amount, e.balance_after) for e in third.entries] == [(1_000, 1_000)]
    assert third.next_before_entry_id is None
    assert first.entries[0].transfer.code == testing.SALE


def test_statement_of_a_system_account_has_no_running_balance(
    vendor_credit: Account, settlement: Account
) -> None:
    fund(vendor_credit, 100)
    sell(vendor_credit, settlement, 60)
    page = selectors.account_statement(account=settlement)
    assert [(e.amount, e.balance_after) for e in page.entries] == [(60, None)]
    assert page.next_before_entry_id is None


def test_transfer_get_finds_a_transfer_or_raises_not_found(vendor_credit: Account) -> None:
    transfer = fund(vendor_credit, 100)
    assert selectors.transfer_get(transfer_id=transfer.id).credit_account == vendor_credit
    with pytest.raises(NotFoundError):
        selectors.transfer_get(transfer_id=uuid.uuid4())
