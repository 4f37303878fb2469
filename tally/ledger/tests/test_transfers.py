"""Posted transfers: exact balances and entries, the floor, atomicity, argument rules."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from tally.identity.models import Role
from tally.ledger import selectors, services, testing
from tally.ledger.exceptions import (
    CurrencyMismatchError,
    InsufficientFundsError,
    InvalidAmountError,
    SameAccountError,
)
from tally.ledger.models import Account, Entry, Transfer, TransferKind
from tally.ledger.testing import (
    assert_ledger_verifies,
    fund,
    owned_account,
    owner,
    position,
    row_counts,
)
from tally.platform.db import TransactionRequiredError

pytestmark = pytest.mark.django_db


def sell(vendor: Account, settlement: Account, amount_minor: int, **extra: object) -> Transfer:
    with transaction.atomic():
        return services.transfer_create(
            debit_account=vendor,
            credit_account=settlement,
            amount_minor=amount_minor,
            code=testing.SALE,
            **extra,
        ).transfer


def test_account_get_or_create_returns_one_floored_account_per_owner_kind_currency() -> None:
    # given
    user = owner()
    # when
    with transaction.atomic():
        first = services.account_get_or_create(owner=user, kind=testing.PREPAID)
        again = services.account_get_or_create(owner=user, kind=testing.PREPAID)
        wallet = services.account_get_or_create(owner=user, kind=testing.WALLET)
    # then
    assert first.id == again.id
    assert wallet.id != first.id
    assert (first.floored, first.currency, first.balance, first.pending_debits) == (
        True,
        "USD",
        0,
        0,
    )


def test_system_accounts_are_single_unfloored_and_ownerless() -> None:
    # when
    with transaction.atomic():
        first = services.account_system(kind=testing.REVENUE)
        again = services.account_system(kind=testing.REVENUE)
    # then
    assert first.id == again.id
    assert first.owner_id is None
    assert first.floored is False


def test_account_kinds_cannot_be_mixed_up() -> None:
    with transaction.atomic(), pytest.raises(ValueError, match="system account kind"):
        services.account_get_or_create(owner=owner(), kind=testing.ISSUANCE)
    with transaction.atomic(), pytest.raises(ValueError, match="owned account kind"):
        services.account_system(kind=testing.PREPAID)
    assert Account.objects.count() == 0


def test_transfer_moves_exact_amounts_and_writes_two_entries(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 10_000)
    # when
    transfer = sell(prepaid, settlement, 4_550, reference="sale-1", metadata={"phone": "x"})
    # then
    assert position(prepaid) == (5_450, 0, 5_450)
    assert position(settlement) == (4_550, 0, 4_550)
    assert (transfer.kind, transfer.amount, transfer.reference) == (
        TransferKind.IMMEDIATE,
        4_550,
        "sale-1",
    )
    entries = list(
        transfer.entries.order_by("id").values_list("account_id", "amount", "balance_after")
    )
    assert entries == [(prepaid.id, -4_550, 5_450), (settlement.id, 4_550, None)]
    assert_ledger_verifies()


def test_issuance_goes_negative_as_money_enters(prepaid: Account, issuance: Account) -> None:
    # when
    fund(prepaid, 700)
    fund(prepaid, 300)
    # then
    assert position(issuance) == (-1_000, 0, -1_000)
    assert position(prepaid) == (1_000, 0, 1_000)


def test_transfer_between_two_owned_accounts_updates_both_rows(
    prepaid: Account, wallet: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    # when
    with transaction.atomic():
        transfer = services.transfer_create(
            debit_account=prepaid,
            credit_account=wallet,
            amount_minor=250,
            code=testing.PAYMENT,
        ).transfer
    # then
    assert position(prepaid) == (750, 0, 750)
    assert position(wallet) == (250, 0, 250)
    assert sorted(transfer.entries.values_list("amount", "balance_after")) == [
        (-250, 750),
        (250, 250),
    ]
    assert_ledger_verifies()


def test_floored_account_can_be_drained_to_exactly_zero(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 500)
    # when
    sell(prepaid, settlement, 500)
    # then
    assert position(prepaid) == (0, 0, 0)


def test_insufficient_funds_refuses_and_changes_nothing(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 500)
    before = row_counts()
    # when
    with pytest.raises(InsufficientFundsError) as raised:
        sell(prepaid, settlement, 501)
    # then
    assert raised.value.code == "insufficient_funds"
    assert raised.value.status_code == 422
    assert position(prepaid) == (500, 0, 500)
    assert position(settlement) == (0, 0, 0)
    assert row_counts() == before


def test_failed_transfer_leaves_nothing_even_when_the_caller_carries_on(
    prepaid: Account, wallet: Account, settlement: Account
) -> None:
    # given: the credit side (lower id) is updated before the debit side is refused
    credit = owned_account(testing.WALLET)
    debit = owned_account(testing.PREPAID)
    assert credit.id < debit.id
    fund(debit, 100)
    before = row_counts()
    # when: the use case catches the error and commits its other work
    with transaction.atomic():
        with pytest.raises(InsufficientFundsError):
            services.transfer_create(
                debit_account=debit,
                credit_account=credit,
                amount_minor=101,
                code=testing.PAYMENT,
            )
        fund(prepaid, 1)
    # then: the savepoint undid the credit side and the transfer row
    assert position(credit) == (0, 0, 0)
    assert position(debit) == (100, 0, 100)
    assert row_counts() == (before[0] + 1, before[1] + 2)
    assert_ledger_verifies()


@pytest.mark.parametrize("amount", [0, -1, -500, 2**63, 1.5, True])
def test_non_positive_or_non_integer_amounts_are_refused(
    prepaid: Account, settlement: Account, amount: object
) -> None:
    # given
    fund(prepaid, 1_000)
    before = row_counts()
    # when
    with pytest.raises(InvalidAmountError):
        sell(prepaid, settlement, amount)
    # then
    assert position(prepaid) == (1_000, 0, 1_000)
    assert row_counts() == before


def test_transfer_to_the_same_account_is_refused(prepaid: Account) -> None:
    fund(prepaid, 100)
    before = row_counts()
    with pytest.raises(SameAccountError):
        sell(prepaid, prepaid, 10)
    assert position(prepaid) == (100, 0, 100)
    assert row_counts() == before


def test_transfer_between_currencies_is_refused(prepaid: Account) -> None:
    # given
    with transaction.atomic():
        euros = services.account_get_or_create(
            owner=owner(Role.CUSTOMER), kind=testing.WALLET, currency="EUR"
        )
    fund(prepaid, 100)
    before = row_counts()
    # when
    with pytest.raises(CurrencyMismatchError):
        sell(prepaid, euros, 10)
    # then
    assert position(prepaid) == (100, 0, 100)
    assert position(euros) == (0, 0, 0)
    assert row_counts() == before


@pytest.mark.django_db(transaction=True)
def test_services_refuse_to_run_outside_a_transaction(
    prepaid: Account, settlement: Account
) -> None:
    with pytest.raises(TransactionRequiredError):
        services.transfer_create(
            debit_account=prepaid,
            credit_account=settlement,
            amount_minor=1,
            code=testing.SALE,
        )
    assert position(prepaid) == (0, 0, 0)
    assert row_counts() == (0, 0)


def test_transfer_never_updates_the_system_account_row(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    # when
    sell(prepaid, settlement, 300)
    sell(prepaid, settlement, 200)
    # then: the row is untouched, the balance is derived from the entries
    settlement.refresh_from_db()
    assert (settlement.balance, settlement.rolled_up_to_entry_id) == (0, 0)
    assert selectors.account_balance(account=settlement).balance == 500


def test_check_constraint_refuses_a_floored_account_below_zero(prepaid: Account) -> None:
    # given
    fund(prepaid, 100)
    # when / then: even a raw write cannot break the floor
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = -1 WHERE id = %s", [prepaid.id])
    assert position(prepaid) == (100, 0, 100)


def test_check_constraint_refuses_reserving_more_than_the_balance(prepaid: Account) -> None:
    fund(prepaid, 100)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET pending_debits = 101 WHERE id = %s", [prepaid.id])
    assert position(prepaid) == (100, 0, 100)


def test_check_constraint_refuses_a_non_positive_transfer_amount(
    prepaid: Account, settlement: Account
) -> None:
    before = row_counts()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id,"
            " amount, reference, metadata, idempotency_scope, created_at)"
            " VALUES (gen_random_uuid(), 'immediate', 'test_sale', %s, %s, 0, '', '{}', '', now())",
            [prepaid.id, settlement.id],
        )
    assert row_counts() == before


def test_entries_of_owned_accounts_carry_the_running_balance(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    # when
    for amount in (100, 250, 50):
        sell(prepaid, settlement, amount)
    # then
    assert list(
        Entry.objects.filter(account=prepaid).order_by("id").values_list("amount", "balance_after")
    ) == [(1_000, 1_000), (-100, 900), (-250, 650), (-50, 600)]
