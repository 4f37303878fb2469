"""System-account roll-up keeps derived balances exact; statements page by keyset."""

from __future__ import annotations

import pytest
from django.db import transaction

from tally.ledger import selectors, services, tasks, testing
from tally.ledger.models import Account, Entry
from tally.ledger.testing import assert_ledger_verifies, fund, owner, position

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
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    sell(prepaid, settlement, 100)
    sell(prepaid, settlement, 200)
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
    sell(prepaid, settlement, 50)
    assert position(settlement) == (350, 0, 350)
    assert roll_up(settlement) == 1
    assert roll_up(settlement) == 0
    settlement.refresh_from_db()
    assert settlement.balance == 350
    assert position(settlement) == (350, 0, 350)
    assert_ledger_verifies()


def test_owned_accounts_are_not_rolled_up(prepaid: Account) -> None:
    with pytest.raises(ValueError, match="only system accounts"), transaction.atomic():
        services.account_roll_up(account=prepaid)


@pytest.mark.django_db(transaction=True)
def test_beat_roll_up_covers_every_system_account(
    prepaid: Account, settlement: Account, issuance: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    sell(prepaid, settlement, 400)
    # when
    folded = tasks.ledger_roll_up()
    # then
    issuance.refresh_from_db()
    settlement.refresh_from_db()
    assert folded == 2
    assert (issuance.balance, settlement.balance) == (-1_000, 400)
    assert position(issuance) == (-1_000, 0, -1_000)
    assert_ledger_verifies()


def test_owner_entries_are_the_owners_statement_newest_first_with_running_balance(
    prepaid: Account, other_prepaid: Account, settlement: Account
) -> None:
    # given: two owners' accounts of the same kind
    fund(prepaid, 1_000)
    fund(other_prepaid, 5)
    for amount in (10, 20, 30):
        sell(prepaid, settlement, amount)
    # when
    entries = list(
        selectors.owner_entries(owner_id=prepaid.owner_id, kind=testing.PREPAID).order_by("-id")
    )
    # then: only this owner's, newest first, each with its transfer
    assert [(e.amount, e.balance_after) for e in entries] == [
        (-30, 940),
        (-20, 970),
        (-10, 990),
        (1_000, 1_000),
    ]
    assert entries[0].transfer.code == testing.SALE


def test_kind_entries_span_every_owner_and_filter_by_one(
    prepaid: Account, other_prepaid: Account, wallet: Account
) -> None:
    # given
    fund(prepaid, 100)
    fund(other_prepaid, 200)
    fund(wallet, 300)
    # when
    every = selectors.kind_entries(kind=testing.PREPAID).order_by("-id")
    one = selectors.kind_entries(kind=testing.PREPAID, owner_id=prepaid.owner_id)
    # then: wallets and system sides are not prepaid entries
    assert [(e.account_id, e.amount) for e in every] == [
        (other_prepaid.id, 200),
        (prepaid.id, 100),
    ]
    assert [e.amount for e in one] == [100]


def test_owner_balance_is_zero_before_the_first_movement_and_creates_nothing() -> None:
    # given
    user = owner()
    accounts = Account.objects.count()
    # when
    balance = selectors.owner_balance(owner_id=user.pk, kind=testing.PREPAID)
    # then
    assert (balance.balance, balance.pending, balance.available) == (0, 0, 0)
    assert Account.objects.count() == accounts
