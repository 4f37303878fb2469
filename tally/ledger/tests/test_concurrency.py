"""The ledger under real concurrency: real threads, real PostgreSQL, committed transactions."""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.test import override_settings

from tally.ledger import services, tasks, testing
from tally.ledger.exceptions import InsufficientFundsError, PendingTransferAlreadyResolvedError
from tally.ledger.models import Account, Transfer, TransferKind
from tally.ledger.testing import (
    assert_ledger_verifies,
    fund,
    owned_account,
    position,
    row_counts,
)
from tally.platform.testing.race import run_concurrently, transaction_held, transactions_open

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 32


def run_threads(count: int, work: Callable[[int], list[str]]) -> Counter[str]:
    """Run ``work(i)`` on ``count`` threads released together (the race kit); tally the
    outcomes. A thread that raised fails the test with its exception."""
    outcomes = run_concurrently(*(functools.partial(work, index) for index in range(count)))
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    if errors:
        raise errors[0]
    return Counter(name for outcome in outcomes for name in outcome.value or [])


def attempt(action: Callable[[], Any]) -> str:
    """One use case in its own durable transaction; the outcome's name."""
    try:
        with transaction.atomic(durable=True):
            action()
    except InsufficientFundsError:
        return "insufficient_funds"
    except PendingTransferAlreadyResolvedError:
        return "already_resolved"
    return "ok"


def test_32_threads_drain_a_floored_account_exactly(prepaid: Account, settlement: Account) -> None:
    # given: N units and 2N one-unit attempts spread over 32 threads
    units = 64
    fund(prepaid, units)

    def work(index: int) -> list[str]:
        return [
            attempt(
                lambda: services.transfer_create(
                    debit_account=prepaid,
                    credit_account=settlement,
                    amount_minor=1,
                    code=testing.SALE,
                )
            )
            for _ in range(2 * units // THREADS)
        ]

    # when
    outcomes = run_threads(THREADS, work)
    # then
    assert outcomes == Counter({"ok": units, "insufficient_funds": units})
    assert position(prepaid) == (0, 0, 0)
    assert position(settlement) == (units, 0, units)
    assert Transfer.objects.filter(kind=TransferKind.IMMEDIATE).count() == 1 + units
    assert_ledger_verifies()


def test_pending_and_posted_transfers_compete_for_the_same_units(
    wallet: Account, settlement: Account
) -> None:
    # given
    units = 64
    fund(wallet, units)

    def work(index: int) -> list[str]:
        outcomes = []
        for round_ in range(2 * units // THREADS):
            if (index + round_) % 2:
                action: Callable[[], Any] = lambda: services.transfer_create(  # noqa: E731
                    debit_account=wallet,
                    credit_account=settlement,
                    amount_minor=1,
                    code=testing.SALE,
                )
            else:
                action = lambda: services.transfer_create_pending(  # noqa: E731
                    debit_account=wallet,
                    credit_account=settlement,
                    amount_minor=1,
                    code=testing.ACTIVATION,
                    timeout_seconds=600,
                )
            outcomes.append(attempt(action))
        return outcomes

    # when
    outcomes = run_threads(THREADS, work)
    # then: exactly N units were taken, as postings or reservations
    posted = Transfer.objects.filter(kind=TransferKind.IMMEDIATE, debit_account=wallet).count()
    reserved = Transfer.objects.filter(kind=TransferKind.PENDING).count()
    assert outcomes == Counter({"ok": units, "insufficient_funds": units})
    assert posted + reserved == units
    assert position(wallet) == (units - posted, reserved, 0)
    assert_ledger_verifies()

    # and when every reservation is posted or voided concurrently, each exactly once
    pendings = list(Transfer.objects.filter(kind=TransferKind.PENDING).order_by("created_at"))

    def resolve(index: int) -> list[str]:
        outcomes = []
        for number, pending in enumerate(pendings):
            if number % 2:
                outcomes.append(
                    attempt(lambda p=pending: services.transfer_post_pending(pending=p))
                )
            else:
                outcomes.append(
                    attempt(lambda p=pending: services.transfer_void_pending(pending=p))
                )
        return outcomes

    resolved = run_threads(4, resolve)
    assert resolved == Counter({"ok": reserved, "already_resolved": 3 * reserved})
    posts = Transfer.objects.filter(kind=TransferKind.POST_PENDING).count()
    assert position(wallet) == (units - posted - posts, 0, units - posted - posts)
    assert position(settlement) == (posted + posts, 0, posted + posts)
    assert_ledger_verifies()


def test_concurrent_post_and_void_of_one_pending_transfer_resolve_it_once(
    wallet: Account, settlement: Account
) -> None:
    # given
    fund(wallet, 100)
    with transaction.atomic():
        pending = services.transfer_create_pending(
            debit_account=wallet,
            credit_account=settlement,
            amount_minor=100,
            code=testing.ACTIVATION,
        )

    def work(index: int) -> list[str]:
        if index % 2:
            return [attempt(lambda: services.transfer_post_pending(pending=pending))]
        return [attempt(lambda: services.transfer_void_pending(pending=pending))]

    # when
    outcomes = run_threads(16, work)
    # then
    assert outcomes == Counter({"ok": 1, "already_resolved": 15})
    resolution = Transfer.objects.get(pending=pending)
    expected = (0, 0, 0) if resolution.kind == TransferKind.POST_PENDING else (100, 0, 100)
    assert position(wallet) == expected
    assert_ledger_verifies()


def test_opposite_transfers_between_two_accounts_never_deadlock() -> None:
    # given
    first = owned_account(testing.PREPAID)
    second = owned_account(testing.WALLET)
    fund(first, 1_000)
    fund(second, 1_000)

    def work(index: int) -> list[str]:
        debit, credit = (first, second) if index % 2 else (second, first)
        return [
            attempt(
                lambda: services.transfer_create(
                    debit_account=debit,
                    credit_account=credit,
                    amount_minor=1,
                    code=testing.ADJUSTMENT,
                )
            )
            for _ in range(10)
        ]

    # when: a deadlock would raise OperationalError out of run_threads
    outcomes = run_threads(THREADS, work)
    # then: as many moved each way, so both end where they started
    assert outcomes == Counter({"ok": THREADS * 10})
    assert position(first) == (1_000, 0, 1_000)
    assert position(second) == (1_000, 0, 1_000)
    assert_ledger_verifies()


def test_same_idempotency_key_from_many_threads_moves_money_once(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    seen: list[str] = []

    def work(index: int) -> list[str]:
        with transaction.atomic(durable=True):
            transfer = services.transfer_create(
                debit_account=prepaid,
                credit_account=settlement,
                amount_minor=300,
                code=testing.SALE,
                idempotency_key="sale-42",
                idempotency_scope="vendor",
            ).transfer
        seen.append(str(transfer.id))
        return ["ok"]

    # when
    outcomes = run_threads(16, work)
    # then
    assert outcomes == Counter({"ok": 16})
    assert len(set(seen)) == 1
    assert position(prepaid) == (700, 0, 700)
    assert row_counts() == (2, 4)
    assert_ledger_verifies()


def test_vendors_paying_one_system_account_do_not_wait_on_each_other(
    settlement: Account,
) -> None:
    """100 vendors sell into the same settlement account while vendor 0's transaction is
    held open: none of the other 99 waits, because no transfer locks the settlement row."""
    # given
    vendors = [owned_account(testing.PREPAID) for _ in range(100)]
    for vendor in vendors:
        fund(vendor, 100)

    def sale_of_vendor_zero() -> object:
        return services.transfer_create(
            debit_account=vendors[0],
            credit_account=settlement,
            amount_minor=10,
            code=testing.SALE,
        )

    def sell(index: int) -> list[str]:
        outcomes = []
        for vendor in vendors[1 + index :: 4]:
            with transaction.atomic(durable=True):
                # Waiting for any lock for a second is a failure, not a slow pass.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '1s'")
                services.transfer_create(
                    debit_account=vendor,
                    credit_account=settlement,
                    amount_minor=10,
                    code=testing.SALE,
                )
            outcomes.append("ok")
        return outcomes

    # when: vendor 0's sale holds its transaction open meanwhile
    with transaction_held(sale_of_vendor_zero) as held:
        started = time.monotonic()
        outcomes = run_threads(4, sell)
        elapsed = time.monotonic() - started
        still_open = held.backend in {row["pid"] for row in transactions_open()}
    # then: all 99 committed while vendor 0 still held its transaction open
    assert outcomes == Counter({"ok": 99})
    assert still_open
    assert elapsed < 30
    assert position(settlement) == (1_000, 0, 1_000)
    assert_ledger_verifies()


def test_roll_up_waits_for_open_transfers_and_never_loses_an_entry(
    prepaid: Account, settlement: Account
) -> None:
    """The exclusive roll-up lock cannot cut past an entry that is not committed yet."""
    # given: a transfer to settlement held open
    fund(prepaid, 100)

    def roll_up_impatiently() -> None:
        with transaction.atomic(durable=True):
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            services.account_roll_up(account=settlement)

    def sale_to_settlement() -> object:
        return services.transfer_create(
            debit_account=prepaid, credit_account=settlement, amount_minor=40, code=testing.SALE
        )

    with transaction_held(sale_to_settlement):
        # when: a roll-up with a short lock timeout gives up instead of cutting
        with pytest.raises(OperationalError, match="lock timeout"):
            roll_up_impatiently()
        # and the beat task skips the busy account but rolls up the others (issuance)
        with override_settings(LEDGER_ROLL_UP_LOCK_TIMEOUT_MS=200):
            assert tasks.ledger_roll_up() == 1
    settlement.refresh_from_db()
    assert (settlement.balance, settlement.rolled_up_to_entry_id) == (0, 0)
    # then: once committed, the roll-up takes the entry in
    with transaction.atomic(durable=True):
        assert services.account_roll_up(account=settlement) == 1
    settlement.refresh_from_db()
    assert settlement.balance == 40
    assert position(settlement) == (40, 0, 40)
    assert_ledger_verifies()
