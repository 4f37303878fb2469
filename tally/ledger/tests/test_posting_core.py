"""The posting core: one statement per transfer whatever its shape, and the vocabulary that
features register with the ledger."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tally.ledger import services, testing
from tally.ledger.exceptions import InsufficientFundsError
from tally.ledger.models import Account, Transfer
from tally.ledger.testing import (
    assert_ledger_verifies,
    fund,
    owned_account,
    owner,
    position,
    row_counts,
)
from tally.ledger.verification import ledger_verify
from tally.ledger.vocabulary import (
    UnknownVocabularyError,
    account_kind_get,
    account_kind_register,
    transfer_code_register,
)
from tally.platform.testing.race import lock_wait_for, run_concurrently, transaction_held

pytestmark = pytest.mark.django_db


def pay(debit: Account, credit: Account, amount_minor: int, **extra: object) -> Transfer:
    return services.transfer_create(
        debit_account=debit,
        credit_account=credit,
        amount_minor=amount_minor,
        code=testing.PAYMENT,
        **extra,
    ).transfer


# --- vocabulary ----------------------------------------------------------------------------


def test_a_registered_kind_is_a_string_with_its_declaration() -> None:
    # given / when
    again = account_kind_register("test_wallet", label="Test wallet", owned=True)
    # then
    assert again is testing.WALLET
    assert again == "test_wallet"
    assert (again.owned, again.floored) == (True, True)
    assert account_kind_get("test_settlement").owned is False


def test_a_kind_registered_twice_differently_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        account_kind_register("test_wallet", label="Test wallet", owned=False)
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        transfer_code_register("test_sale", label="Something else")
    assert testing.WALLET.owned is True


@pytest.mark.parametrize("value", ["Wallet", "wallet-1", "1wallet", "", "w" * 33])
def test_badly_formed_kinds_are_refused_at_registration(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="must match"):
        account_kind_register(value, label="x", owned=True)


def test_a_system_kind_cannot_be_floored() -> None:
    with pytest.raises(ImproperlyConfigured, match="cannot be floored"):
        account_kind_register("test_floored_system", label="x", owned=False, floored=True)


def test_services_refuse_an_unregistered_kind_or_code_and_write_nothing(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 100)
    before = (position(prepaid), row_counts(), Account.objects.count())
    # when / then
    with transaction.atomic(), pytest.raises(UnknownVocabularyError):
        services.account_get_or_create(owner=owner(), kind="nobody_registered_this")
    with transaction.atomic(), pytest.raises(UnknownVocabularyError):
        services.transfer_create(
            debit_account=prepaid,
            credit_account=settlement,
            amount_minor=10,
            code="nobody_registered_this",
        )
    assert (position(prepaid), row_counts(), Account.objects.count()) == before


def test_the_database_refuses_a_badly_formed_kind_or_code(prepaid: Account) -> None:
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_account (owner_id, kind, currency, floored, balance,"
            " pending_debits, rolled_up_to_entry_id, created_at)"
            " VALUES (NULL, 'Not A Kind', 'USD', false, 0, 0, 0, now())"
        )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id,"
            " amount, reference, metadata, idempotency_scope, created_at)"
            " VALUES (gen_random_uuid(), 'immediate', 'DROP TABLE', %s, %s, 1, '', '{}', '',"
            " now())",
            [prepaid.id, prepaid.id + 1],
        )


def test_verify_reports_kinds_and_codes_no_feature_registered(prepaid: Account) -> None:
    # given: rows written by a feature that was since removed
    fund(prepaid, 100)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_account (owner_id, kind, currency, floored, balance,"
            " pending_debits, rolled_up_to_entry_id, created_at)"
            " VALUES (NULL, 'retired_kind', 'USD', false, 0, 0, 0, now())"
        )
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE ledger_transfer SET code = 'retired_code'")
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    # when
    report = ledger_verify()
    # then
    check = next(check for check in report.checks if check.name == "registered_vocabulary")
    assert not report.ok
    assert sorted((row["what"], row["value"], row["rows"]) for row in check.sample) == [
        ("account_kind", "retired_kind", 1),
        ("transfer_code", "retired_code", 1),
    ]


# --- one statement per transfer ----------------------------------------------------------


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"].split()[0].upper() for query in captured.captured_queries]


def test_a_transfer_between_two_owned_accounts_is_one_statement_without_savepoint(
    wallet: Account,
) -> None:
    # given: a wallet paying a vendor's earnings-like owned account (both floored)
    earnings = owned_account(testing.PREPAID)
    fund(wallet, 1_000)
    # when
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        result = services.transfer_create(
            debit_account=wallet, credit_account=earnings, amount_minor=400, code=testing.PAYMENT
        )
    # then
    assert statements(captured) == ["WITH"]
    assert result.balances_after == {wallet.id: 600, earnings.id: 400}
    assert position(wallet) == (600, 0, 600)
    assert position(earnings) == (400, 0, 400)
    assert_ledger_verifies()


def test_a_sale_shaped_transfer_is_one_statement(prepaid: Account, settlement: Account) -> None:
    # given
    fund(prepaid, 1_000)
    # when
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        result = services.transfer_create(
            debit_account=prepaid,
            credit_account=settlement,
            amount_minor=250,
            code=testing.SALE,
        )
    # then
    assert statements(captured) == ["WITH"]
    assert result.balances_after == {prepaid.id: 750}


def test_a_keyed_transfer_is_one_statement_in_a_savepoint(wallet: Account) -> None:
    # given
    earnings = owned_account(testing.PREPAID)
    fund(wallet, 1_000)
    # when
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        pay(wallet, earnings, 100, idempotency_key="refund-1", idempotency_scope="orders")
    # then
    assert statements(captured) == ["SAVEPOINT", "WITH", "RELEASE"]


@pytest.mark.parametrize("credit_first", [True, False])
def test_a_refused_two_owned_transfer_writes_nothing_whichever_row_locks_first(
    credit_first: bool,
) -> None:
    # given: the credit account's row comes first in lock order, or last
    first, second = owned_account(testing.WALLET), owned_account(testing.WALLET)
    payer, payee = (second, first) if credit_first else (first, second)
    fund(payer, 100)
    fund(payee, 7)
    before = row_counts()
    # when: the caller carries on in its transaction after the refusal
    with transaction.atomic():
        with pytest.raises(InsufficientFundsError):
            pay(payer, payee, 101)
        pay(payer, payee, 100)
    # then: the refused attempt left nothing, not even on the credit side
    assert position(payer) == (0, 0, 0)
    assert position(payee) == (107, 0, 107)
    assert row_counts() == (before[0] + 1, before[1] + 2)
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_wallet_payments_between_owned_accounts_drain_the_wallet_exactly() -> None:
    # given: 32 concurrent payments of 1 unit from a wallet holding 16, to two payees, one
    # locked before the wallet and one after it (ascending id is the lock order)
    low = owned_account(testing.PREPAID)
    wallet = owned_account(testing.WALLET)
    high = owned_account(testing.PREPAID)
    fund(wallet, 16)

    def payment(payee: Account) -> str:
        try:
            with transaction.atomic(durable=True):
                pay(wallet, payee, 1)
        except InsufficientFundsError:
            return "insufficient_funds"
        return "ok"

    # when
    outcomes = run_concurrently(lambda: payment(low), lambda: payment(high), times=16)
    # then
    assert [outcome.error for outcome in outcomes if not outcome.ok] == []
    assert sorted(str(outcome.value) for outcome in outcomes) == (
        ["insufficient_funds"] * 16 + ["ok"] * 16
    )
    assert position(wallet) == (0, 0, 0)
    assert position(low)[0] + position(high)[0] == 16
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_a_two_owned_payment_locks_the_lower_id_first_and_touches_nothing_before() -> None:
    # given: another transaction holds the payee's row, which has the lower id
    payee = owned_account(testing.PREPAID)
    wallet = owned_account(testing.WALLET)
    fund(wallet, 50)

    def pay_now() -> Transfer:
        with transaction.atomic(durable=True):
            return pay(wallet, payee, 50)

    with transaction_held(lambda: Account.objects.select_for_update().get(pk=payee.pk)) as held:
        payer = threading.Thread(target=lambda: run_concurrently(pay_now))
        payer.start()
        # when: the payment waits for the payee's row
        lock_wait_for(timeout_seconds=10)
        # then: the wallet's row was not touched out of order: it is free and unchanged
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")
            cursor.execute(
                "SELECT balance, pending_debits FROM ledger_account WHERE id = %s FOR UPDATE",
                [wallet.id],
            )
            assert cursor.fetchone() == (50, 0)
        assert held.value == payee
    payer.join(10)
    assert position(wallet) == (0, 0, 0)
    assert position(payee) == (50, 0, 50)
    assert_ledger_verifies()
