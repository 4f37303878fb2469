"""The balance read cache never serves a balance older than the last committed change."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import override_settings

from tally.identity.tests.factories import VendorFactory
from tally.ledger import selectors, testing
from tally.ledger import services as ledger
from tally.ledger.balance_cache import balance_cache_read_through
from tally.ledger.models import Account

pytestmark = pytest.mark.django_db(transaction=True)


def credit(account: Account, amount_minor: int) -> None:
    with transaction.atomic():
        ledger.transfer_create(
            debit_account=ledger.account_system(kind=testing.ISSUANCE),
            credit_account=account,
            amount_minor=amount_minor,
            code=testing.FUNDING,
        )


def vendor_account() -> Account:
    with transaction.atomic():
        return ledger.account_get_or_create(owner=VendorFactory().user, kind=testing.PREPAID)


def test_cached_reads_follow_every_committed_change() -> None:
    account = vendor_account()
    credit(account, 100)
    assert selectors.account_balance_cached(account=account).balance == 100
    # a cached value exists now; the database is the only thing that changes below
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    credit(account, 50)
    assert selectors.account_balance_cached(account=account).balance == 150
    assert selectors.account_balance_cached(account=account).balance == 150


def test_cache_serves_without_the_database_when_current() -> None:
    account = vendor_account()
    credit(account, 70)
    selectors.account_balance_cached(account=account)
    calls: list[int] = []

    def load() -> tuple[int, int]:
        calls.append(1)
        return (0, 0)

    assert balance_cache_read_through(account_id=account.id, load=load) == (70, 0)
    assert calls == []


def test_a_reader_that_raced_a_writer_does_not_cache_its_stale_read() -> None:
    account = vendor_account()
    credit(account, 10)

    def stale_load() -> tuple[int, int]:
        # the reader has read 10 from the database; a writer commits before it stores it
        credit(account, 5)
        return (10, 0)

    assert balance_cache_read_through(account_id=account.id, load=stale_load) == (10, 0)
    assert selectors.account_balance_cached(account=account).balance == 15


def test_reads_fall_back_to_the_database_when_redis_is_unreachable() -> None:
    account = vendor_account()
    credit(account, 42)
    unreachable = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with override_settings(CACHES=unreachable):
        assert selectors.account_balance_cached(account=account).balance == 42
        credit(account, 1)  # the bump after commit fails quietly; money is unaffected
        assert selectors.account_balance_cached(account=account).balance == 43


def test_a_read_inside_an_uncommitted_transaction_is_neither_stale_nor_cached() -> None:
    account = vendor_account()
    credit(account, 100)
    assert selectors.account_balance_cached(account=account).balance == 100  # now cached
    seen_inside: list[int] = []

    def credit_then_roll_back() -> None:
        with transaction.atomic():
            ledger.transfer_create(
                debit_account=ledger.account_system(kind=testing.ISSUANCE),
                credit_account=account,
                amount_minor=50,
                code=testing.FUNDING,
            )
            seen_inside.append(selectors.account_balance_cached(account=account).balance)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        credit_then_roll_back()
    # the transaction saw its own change, not the cached committed value
    assert seen_inside == [150]
    # the rolled-back 150 was never cached for anyone else
    assert selectors.account_balance_cached(account=account).balance == 100
