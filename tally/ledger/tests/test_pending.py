"""Pending transfers: reserve, post (full or partial), void, expire; each resolved once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tally.ledger import selectors, services, tasks, testing
from tally.ledger.exceptions import (
    InsufficientFundsError,
    NotPendingError,
    PendingTransferAlreadyResolvedError,
    PendingTransferExpiredError,
    PendingTransferNotExpiredError,
    PostAmountExceedsPendingError,
)
from tally.ledger.models import Account, PendingStatus, Transfer, TransferKind
from tally.ledger.testing import assert_ledger_verifies, fund, position, row_counts

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def reserve(
    debit: Account, credit: Account, amount_minor: int, *, timeout_seconds: int | None = 600
) -> Transfer:
    with transaction.atomic():
        return services.transfer_create_pending(
            debit_account=debit,
            credit_account=credit,
            amount_minor=amount_minor,
            code=testing.ACTIVATION,
            timeout_seconds=timeout_seconds,
            reference="activation-1",
            now=NOW,
        )


def post(pending: Transfer, amount_minor: int | None = None, *, now: datetime = NOW) -> Transfer:
    with transaction.atomic():
        return services.transfer_post_pending(pending=pending, amount_minor=amount_minor, now=now)


def void(pending: Transfer, *, now: datetime = NOW) -> Transfer:
    with transaction.atomic():
        return services.transfer_void_pending(pending=pending, now=now)


def expire(pending: Transfer, *, now: datetime) -> Transfer:
    with transaction.atomic():
        return services.transfer_expire_pending(pending=pending, now=now)


def status(pending: Transfer) -> PendingStatus:
    return selectors.transfer_pending_status(transfer=pending)


def test_pending_transfer_reserves_without_moving_balance(
    wallet: Account, settlement: Account
) -> None:
    # given
    fund(wallet, 1_000)
    before = row_counts()
    # when
    pending = reserve(wallet, settlement, 400)
    # then
    assert position(wallet) == (1_000, 400, 600)
    assert position(settlement) == (0, 0, 0)
    assert (pending.kind, pending.expires_at) == (TransferKind.PENDING, NOW + timedelta(minutes=10))
    assert row_counts() == (before[0] + 1, before[1])  # no entries for a reservation
    assert status(pending) == PendingStatus.OPEN
    assert_ledger_verifies()


def test_pending_transfer_beyond_available_is_refused(wallet: Account, settlement: Account) -> None:
    # given
    fund(wallet, 1_000)
    reserve(wallet, settlement, 700)
    before = row_counts()
    # when
    with pytest.raises(InsufficientFundsError):
        reserve(wallet, settlement, 301)
    # then
    assert position(wallet) == (1_000, 700, 300)
    assert row_counts() == before


def test_reserved_funds_cannot_be_spent_by_a_posted_transfer(
    wallet: Account, settlement: Account
) -> None:
    # given
    fund(wallet, 1_000)
    reserve(wallet, settlement, 700)
    before = row_counts()
    # when
    with pytest.raises(InsufficientFundsError), transaction.atomic():
        services.transfer_create(
            debit_account=wallet,
            credit_account=settlement,
            amount_minor=301,
            code=testing.SALE,
        )
    # then
    assert position(wallet) == (1_000, 700, 300)
    assert row_counts() == before


def test_post_in_full_moves_the_reserved_amount(wallet: Account, settlement: Account) -> None:
    # given
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400)
    # when
    posted = post(pending)
    # then
    assert position(wallet) == (600, 0, 600)
    assert position(settlement) == (400, 0, 400)
    assert (posted.kind, posted.amount, posted.pending_id, posted.code, posted.reference) == (
        TransferKind.POST_PENDING,
        400,
        pending.id,
        testing.ACTIVATION,
        "activation-1",
    )
    assert sorted(posted.entries.values_list("amount", "balance_after")) == [
        (-400, 600),
        (400, None),
    ]
    assert status(pending) == PendingStatus.POSTED
    assert_ledger_verifies()


def test_partial_post_moves_part_and_releases_the_rest(
    wallet: Account, settlement: Account
) -> None:
    # given
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400)
    # when
    posted = post(pending, 150)
    # then
    assert posted.amount == 150
    assert position(wallet) == (850, 0, 850)
    assert position(settlement) == (150, 0, 150)
    assert status(pending) == PendingStatus.POSTED
    assert_ledger_verifies()


def test_post_for_more_than_reserved_is_refused(wallet: Account, settlement: Account) -> None:
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400)
    before = row_counts()
    with pytest.raises(PostAmountExceedsPendingError):
        post(pending, 401)
    assert position(wallet) == (1_000, 400, 600)
    assert row_counts() == before
    assert status(pending) == PendingStatus.OPEN


def test_void_releases_the_reservation(wallet: Account, settlement: Account) -> None:
    # given
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400)
    # when
    voided = void(pending)
    # then
    assert (voided.kind, voided.amount, voided.pending_id) == (
        TransferKind.VOID_PENDING,
        400,
        pending.id,
    )
    assert voided.entries.count() == 0
    assert position(wallet) == (1_000, 0, 1_000)
    assert position(settlement) == (0, 0, 0)
    assert status(pending) == PendingStatus.VOIDED
    assert_ledger_verifies()


@pytest.mark.parametrize(
    ("first", "second"),
    [("post", "post"), ("post", "void"), ("void", "post"), ("void", "void"), ("expire", "post")],
)
def test_a_pending_transfer_is_resolved_at_most_once(
    wallet: Account, settlement: Account, first: str, second: str
) -> None:
    # given
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400)
    later = NOW + timedelta(hours=1)
    resolve = {
        "post": lambda: post(pending),
        "void": lambda: void(pending),
        "expire": lambda: expire(pending, now=later),
    }
    resolution = resolve[first]()
    after_first = (position(wallet), position(settlement), row_counts())
    # when
    with pytest.raises(PendingTransferAlreadyResolvedError) as raised:
        resolve[second]()
    # then
    assert raised.value.extra == {
        "resolution": resolution.kind,
        "resolution_id": str(resolution.id),
    }
    assert (position(wallet), position(settlement), row_counts()) == after_first
    assert_ledger_verifies()


def test_an_expired_pending_transfer_cannot_be_posted(wallet: Account, settlement: Account) -> None:
    # given
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400, timeout_seconds=60)
    before = row_counts()
    # when
    with pytest.raises(PendingTransferExpiredError):
        post(pending, now=NOW + timedelta(seconds=60))
    # then
    assert position(wallet) == (1_000, 400, 600)
    assert row_counts() == before
    assert status(pending) == PendingStatus.OPEN


def test_an_overdue_pending_transfer_can_still_be_voided(
    wallet: Account, settlement: Account
) -> None:
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400, timeout_seconds=60)
    void(pending, now=NOW + timedelta(hours=2))
    assert position(wallet) == (1_000, 0, 1_000)
    assert status(pending) == PendingStatus.VOIDED


def test_expire_releases_an_overdue_reservation(wallet: Account, settlement: Account) -> None:
    # given
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400, timeout_seconds=60)
    # when
    expired = expire(pending, now=NOW + timedelta(seconds=60))
    # then
    assert (expired.kind, expired.amount) == (TransferKind.EXPIRE_PENDING, 400)
    assert position(wallet) == (1_000, 0, 1_000)
    assert status(pending) == PendingStatus.EXPIRED
    assert_ledger_verifies()


def test_expire_before_the_deadline_is_refused(wallet: Account, settlement: Account) -> None:
    fund(wallet, 1_000)
    pending = reserve(wallet, settlement, 400, timeout_seconds=60)
    no_deadline = reserve(wallet, settlement, 100, timeout_seconds=None)
    before = row_counts()
    with pytest.raises(PendingTransferNotExpiredError):
        expire(pending, now=NOW + timedelta(seconds=59))
    with pytest.raises(PendingTransferNotExpiredError):
        expire(no_deadline, now=NOW + timedelta(days=3650))
    assert position(wallet) == (1_000, 500, 500)
    assert row_counts() == before


def test_only_pending_transfers_can_be_resolved(wallet: Account, settlement: Account) -> None:
    posted = fund(wallet, 1_000)
    before = row_counts()
    with pytest.raises(NotPendingError):
        post(posted)
    with pytest.raises(NotPendingError):
        void(posted)
    with pytest.raises(NotPendingError):
        expire(posted, now=NOW)
    assert row_counts() == before
    assert position(wallet) == (1_000, 0, 1_000)


def test_pending_transfer_needs_a_future_deadline(wallet: Account, settlement: Account) -> None:
    fund(wallet, 1_000)
    with pytest.raises(ValueError, match="future"), transaction.atomic():
        services.transfer_create_pending(
            debit_account=wallet,
            credit_account=settlement,
            amount_minor=1,
            code=testing.ACTIVATION,
            expires_at=NOW,
            now=NOW,
        )
    assert position(wallet) == (1_000, 0, 1_000)


def test_expire_overdue_expires_only_open_overdue_transfers(
    wallet: Account, settlement: Account
) -> None:
    # given
    fund(wallet, 1_000)
    overdue = reserve(wallet, settlement, 100, timeout_seconds=60)
    posted_before = reserve(wallet, settlement, 200, timeout_seconds=60)
    post(posted_before)
    not_yet = reserve(wallet, settlement, 300, timeout_seconds=3_600)
    # when
    with transaction.atomic():
        expired = services.transfer_expire_overdue(now=NOW + timedelta(minutes=5))
    # then
    assert [transfer.pending_id for transfer in expired] == [overdue.id]
    assert status(overdue) == PendingStatus.EXPIRED
    assert status(not_yet) == PendingStatus.OPEN
    assert position(wallet) == (800, 300, 500)
    assert_ledger_verifies()


def test_pending_transfer_debiting_a_system_account_derives_its_pending(
    issuance: Account, wallet: Account
) -> None:
    # when
    pending = reserve(issuance, wallet, 250)
    # then
    assert position(issuance) == (0, 250, -250)
    issuance.refresh_from_db()
    assert issuance.pending_debits == 0  # the row is never touched
    post(pending, 100)
    assert position(issuance) == (-100, 0, -100)
    assert position(wallet) == (100, 0, 100)
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_beat_task_expires_overdue_transfers_in_batches(
    wallet: Account, settlement: Account
) -> None:
    # given: more overdue transfers than one batch holds
    fund(wallet, 10_000)
    past = timezone.now() - timedelta(minutes=5)
    with transaction.atomic():
        for _ in range(tasks.EXPIRE_BATCH_SIZE + 5):
            services.transfer_create_pending(
                debit_account=wallet,
                credit_account=settlement,
                amount_minor=10,
                code=testing.ACTIVATION,
                timeout_seconds=60,
                now=past,
            )
    assert position(wallet) == (10_000, 1_050, 8_950)
    # when
    expired = tasks.ledger_expire_overdue()
    # then
    assert expired == tasks.EXPIRE_BATCH_SIZE + 5
    assert position(wallet) == (10_000, 0, 10_000)
    assert Transfer.objects.filter(kind=TransferKind.EXPIRE_PENDING).count() == expired
    assert tasks.ledger_expire_overdue() == 0
    assert_ledger_verifies()
