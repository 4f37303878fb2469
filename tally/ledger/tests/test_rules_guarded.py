"""Money rules of the ledger that only show when they break: the balance cache after every
kind of movement and only after commit, and ``verify_ledger`` checks that no other check
covers (each corruption below breaks exactly one rule)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from tally.ledger import selectors, services, testing
from tally.ledger.models import Account
from tally.ledger.verification import ledger_verify

pytestmark = pytest.mark.django_db(transaction=True)


def cached_balance(account: Account) -> tuple[int, int]:
    found = selectors.account_balance_cached(account=account)
    return found.balance, found.pending


def settle(account: Account, amount_minor: int, **transfer: str) -> None:
    with transaction.atomic():
        services.transfer_create(
            debit_account=account,
            credit_account=services.account_system(kind=testing.SETTLEMENT),
            amount_minor=amount_minor,
            code=testing.PAYMENT,
            **transfer,
        )


def test_cached_balance_follows_a_transfer_with_an_idempotency_key() -> None:
    account = testing.owned_account()
    testing.fund(account, 1_000)
    assert cached_balance(account) == (1_000, 0)
    settle(account, 300, idempotency_scope="test", idempotency_key="once")
    assert cached_balance(account) == (700, 0)
    # a replay moves nothing, and the cache still agrees with the database
    settle(account, 300, idempotency_scope="test", idempotency_key="once")
    assert cached_balance(account) == (700, 0) == testing.position(account)[:2]


def test_cached_balance_follows_a_reservation_its_post_and_its_void() -> None:
    account = testing.owned_account()
    testing.fund(account, 1_000)
    settlement = testing.system_account(testing.SETTLEMENT)
    assert cached_balance(account) == (1_000, 0)

    def reserve(amount_minor: int) -> object:
        with transaction.atomic():
            return services.transfer_create_pending(
                debit_account=account,
                credit_account=settlement,
                amount_minor=amount_minor,
                code=testing.ACTIVATION,
            )

    posted, voided = reserve(400), reserve(100)
    assert cached_balance(account) == (1_000, 500)
    with transaction.atomic():
        services.transfer_post_pending(pending=posted, amount_minor=250)
    assert cached_balance(account) == (750, 100)
    with transaction.atomic():
        services.transfer_void_pending(pending=voided)
    assert cached_balance(account) == (750, 0) == testing.position(account)[:2]


def test_the_cache_is_retired_after_commit_not_before() -> None:
    """A reader that reads while a change is still uncommitted sees (and may cache) the old
    committed balance; the change's commit must retire that entry."""
    account = testing.owned_account()
    testing.fund(account, 100)
    seen: list[tuple[int, int]] = []

    def read_elsewhere() -> None:
        try:
            seen.append(cached_balance(account))
        finally:
            connection.close()

    with transaction.atomic():
        services.transfer_create(
            debit_account=services.account_system(kind=testing.ISSUANCE),
            credit_account=account,
            amount_minor=50,
            code=testing.FUNDING,
        )
        reader = threading.Thread(target=read_elsewhere)
        reader.start()
        reader.join(timeout=30)
    assert seen == [(100, 0)]  # the other reader saw the committed balance of its time
    assert cached_balance(account) == (150, 0)


def tamper(sql: str, params: list[object]) -> None:
    """Write past the ledger's append-only triggers, as only a bug or an attacker could."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def failed_checks() -> list[str]:
    return [check.name for check in ledger_verify().failed]


FLOOR_CONSTRAINT = "ledger_account_floored_available_non_negative"


def test_verify_reports_a_floored_account_whose_reservations_exceed_its_balance() -> None:
    # given: an unfloored account reserves more than it holds (allowed), then is marked
    # floored behind the ledger's back; every entry and total still agrees
    account = testing.owned_account(testing.UNFLOORED)
    testing.fund(account, 100)
    with transaction.atomic():
        services.transfer_create_pending(
            debit_account=account,
            credit_account=services.account_system(kind=testing.SETTLEMENT),
            amount_minor=150,
            code=testing.ACTIVATION,
        )
    assert failed_checks() == []
    # when: past the table's own check constraint too (dropped, then restored below)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
            [FLOOR_CONSTRAINT],
        )
        (definition,) = cursor.fetchone() or ("",)
    assert definition
    tamper(f"ALTER TABLE ledger_account DROP CONSTRAINT {FLOOR_CONSTRAINT}", [])
    try:
        tamper("UPDATE ledger_account SET floored = true WHERE id = %s", [account.id])
        # then
        assert failed_checks() == ["floored_accounts"]
    finally:
        tamper("UPDATE ledger_account SET floored = false WHERE id = %s", [account.id])
        tamper(f"ALTER TABLE ledger_account ADD CONSTRAINT {FLOOR_CONSTRAINT} {definition}", [])


def test_verify_reports_a_void_that_released_less_than_its_reservation() -> None:
    account = testing.owned_account()
    testing.fund(account, 100)
    with transaction.atomic():
        pending = services.transfer_create_pending(
            debit_account=account,
            credit_account=services.account_system(kind=testing.SETTLEMENT),
            amount_minor=60,
            code=testing.ACTIVATION,
        )
        void = services.transfer_void_pending(pending=pending)
    assert failed_checks() == []
    # when: the void's amount no longer matches the reservation it released
    tamper("UPDATE ledger_transfer SET amount = 59 WHERE id = %s", [void.id])
    # then
    assert failed_checks() == ["pending_resolutions"]
