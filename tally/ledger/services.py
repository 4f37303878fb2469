"""Ledger writes. The only code in Tally that changes a balance.

Every function here joins its caller's transaction (``require_transaction``) and never
opens one: the use case that moves money owns exactly one ``transaction.atomic(durable=True)``
so the movement commits together with the business record that caused it. Each transfer is
written inside a savepoint, so it is all or nothing even when the caller catches the error.

Concurrency is refereed by PostgreSQL, never by Python:

- Owned accounts change with one conditional ``UPDATE ... WHERE <floor holds> RETURNING``,
  which checks and changes in a single statement; a CHECK constraint is the last line.
- When a transfer changes two owned rows it updates them in ascending id order, so two
  transfers can never wait on each other in a cycle (no deadlocks).
- System accounts (issuance, settlement, revenue, clearing) are never updated by a transfer;
  it only appends their entry under a *shared* advisory lock, which other transfers share
  freely. ``account_roll_up`` takes the lock exclusively for an instant to fold entries into
  the account's snapshot (see docs/ledger.md, "No hot row").
- Unique constraints referee retries (idempotency key) and double resolution of a pending
  transfer (one resolution per pending transfer).

Nothing here enqueues a job or writes an audit event: the calling use case does both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tally.identity.models import User
from tally.ledger.balance_cache import balance_cache_invalidate_on_commit
from tally.ledger.exceptions import (
    CurrencyMismatchError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    InvalidAmountError,
    NotPendingError,
    PendingTransferAlreadyResolvedError,
    PendingTransferExpiredError,
    PendingTransferNotExpiredError,
    PostAmountExceedsPendingError,
    SameAccountError,
)
from tally.ledger.models import (
    FLOORED_KINDS,
    OWNED_KINDS,
    SYSTEM_KINDS,
    Account,
    AccountKind,
    Entry,
    Transfer,
    TransferKind,
)
from tally.platform.db import require_transaction

# Advisory lock namespace (the first key of PostgreSQL's two-key form) for "entries are
# being appended to this system account". Transfers take it shared; the roll-up exclusive.
SYSTEM_ACCOUNT_LOCK_CLASS = 0x1ED6E4
_INT4_MASK = 0x7FFFFFFF
BIGINT_MAX = 2**63 - 1


class LedgerInconsistencyError(RuntimeError):
    """The database disagrees with an invariant the ledger maintains; never expected."""


# --- accounts ----------------------------------------------------------------------------


def account_get_or_create(
    *, owner: User, kind: AccountKind | str, currency: str | None = None
) -> Account:
    """Return the owner's account of ``kind`` in ``currency``, creating it (balance 0) if needed.

    Owned kinds are floored. Safe under concurrency: the unique constraint on (owner, kind,
    currency) decides, and a loser gets the winner's row. Locks nothing; enqueues nothing.
    """
    require_transaction()
    kind = AccountKind(kind)
    if kind not in OWNED_KINDS:
        raise ValueError(f"{kind} is a system account kind; use account_system()")
    account, _ = Account.objects.get_or_create(
        owner=owner,
        kind=kind,
        currency=currency or settings.TALLY_CURRENCY,
        defaults={"floored": kind in FLOORED_KINDS},
    )
    return account


def account_system(*, kind: AccountKind | str, currency: str | None = None) -> Account:
    """Return the single system account of ``kind`` in ``currency``, creating it if needed.

    System accounts are unfloored and have no owner. Locks nothing; enqueues nothing.
    """
    require_transaction()
    kind = AccountKind(kind)
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"{kind} is an owned account kind; use account_get_or_create()")
    account, _ = Account.objects.get_or_create(
        owner=None,
        kind=kind,
        currency=currency or settings.TALLY_CURRENCY,
        defaults={"floored": False},
    )
    return account


def account_roll_up(*, account: Account, now: datetime | None = None) -> int:
    """Fold a system account's entries written since its last roll-up into its snapshot.

    Afterwards ``balance`` covers every entry up to ``rolled_up_to_entry_id``; the live
    balance (snapshot + later entries) is unchanged. Returns how many entries were folded.

    Locks the account's advisory lock exclusively, which waits for the transfers appending
    to it right now and holds new ones back until the caller commits, so no entry below the
    new cut can still be uncommitted. Keep the caller's transaction short and bound the
    wait with ``lock_timeout`` (the beat task does). Enqueues nothing.
    """
    require_transaction()
    if not account.is_system:
        raise ValueError("only system accounts are rolled up; owned accounts are live")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [SYSTEM_ACCOUNT_LOCK_CLASS, account.id & _INT4_MASK],
        )
        # One statement, one snapshot: the sum and the cut it covers are read together.
        cursor.execute(
            """
            UPDATE ledger_account AS a
               SET balance = a.balance + d.total,
                   rolled_up_to_entry_id = d.last_id,
                   rolled_up_at = %s
              FROM (
                    SELECT coalesce(sum(e.amount), 0) AS total,
                           max(e.id) AS last_id,
                           count(*) AS entries
                      FROM ledger_entry AS e
                      JOIN ledger_account AS x ON x.id = e.account_id
                     WHERE e.account_id = %s AND e.id > x.rolled_up_to_entry_id
                   ) AS d
             WHERE a.id = %s AND d.last_id IS NOT NULL
            RETURNING d.entries
            """,
            [now or timezone.now(), account.id, account.id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


# --- transfers ---------------------------------------------------------------------------


def transfer_create(
    *,
    debit_account: Account,
    credit_account: Account,
    amount_minor: int,
    code: str,
    reference: str = "",
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    idempotency_scope: str = "",
    now: datetime | None = None,
) -> Transfer:
    """Move ``amount_minor`` from ``debit_account`` to ``credit_account`` at once.

    Guarantees: the transfer row and its two entries are written, and the owned accounts'
    balances changed, together or not at all. A floored debit account never ends below
    zero available (balance - pending debits): if it would, InsufficientFundsError and
    nothing is written. With an ``idempotency_key``, a repeat in the same scope returns the
    first transfer and moves nothing; the same key with different parameters raises
    IdempotencyKeyReusedError.

    Locks: the owned account rows (ascending id), a shared advisory lock per system account.
    Enqueues nothing.
    """
    return transfer_create_result(
        debit_account=debit_account,
        credit_account=credit_account,
        amount_minor=amount_minor,
        code=code,
        reference=reference,
        metadata=metadata,
        idempotency_key=idempotency_key,
        idempotency_scope=idempotency_scope,
        now=now,
    ).transfer


@dataclass(frozen=True)
class TransferResult:
    transfer: Transfer
    # The owned accounts' posted balances right after the transfer, by account id. The
    # rows stay locked by this transaction, so these are what it commits.
    balances_after: dict[int, int]


def transfer_create_result(
    *,
    debit_account: Account,
    credit_account: Account,
    amount_minor: int,
    code: str,
    reference: str = "",
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    idempotency_scope: str = "",
    now: datetime | None = None,
) -> TransferResult:
    """``transfer_create``, also answering the owned accounts' balances after it.

    The common shape, one owned account and one system account without an idempotency key
    (a sale, a credit), is one SQL statement: the guarded UPDATE, the shared lock, the
    transfer and its two entries (see ``_POST_ONE_OWNED_SQL``). Other shapes take the
    general path; both give the same guarantees.
    """
    require_transaction()
    _validate(debit_account=debit_account, credit_account=credit_account, amount=amount_minor)
    if idempotency_key is None and debit_account.is_system != credit_account.is_system:
        return _post_one_owned(
            debit=debit_account,
            credit=credit_account,
            amount=amount_minor,
            code=code,
            reference=reference,
            metadata=metadata or {},
            idempotency_scope=idempotency_scope,
            now=now or timezone.now(),
        )
    transfer = Transfer(
        kind=TransferKind.POSTED,
        code=code,
        debit_account=debit_account,
        credit_account=credit_account,
        amount=amount_minor,
        reference=reference,
        metadata=metadata or {},
        idempotency_scope=idempotency_scope,
        idempotency_key=idempotency_key,
        created_at=now or timezone.now(),
    )

    balances: dict[int, int] = {}

    def apply(written: Transfer) -> None:
        balances.update(
            _post(written, debit=debit_account, credit=credit_account, amount=amount_minor)
        )

    written = _write(transfer, apply)
    return TransferResult(transfer=written, balances_after=balances)


def transfer_create_pending(
    *,
    debit_account: Account,
    credit_account: Account,
    amount_minor: int,
    code: str,
    timeout_seconds: int | None = None,
    expires_at: datetime | None = None,
    reference: str = "",
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    idempotency_scope: str = "",
    now: datetime | None = None,
) -> Transfer:
    """Reserve ``amount_minor`` on ``debit_account`` for a later post or void.

    Guarantees: the debit account's pending debits grow by the amount only if its available
    balance covers it (else InsufficientFundsError, nothing written); no balance and no
    entry changes until the pending transfer is posted. It expires at ``expires_at`` (or
    ``now + timeout_seconds``; never if neither is given). Idempotency as transfer_create.

    Locks: the debit account row if it is owned. Enqueues nothing.
    """
    require_transaction()
    now = now or timezone.now()
    _validate(debit_account=debit_account, credit_account=credit_account, amount=amount_minor)
    if timeout_seconds is not None:
        if expires_at is not None:
            raise ValueError("give timeout_seconds or expires_at, not both")
        expires_at = now + timedelta(seconds=timeout_seconds)
    if expires_at is not None and expires_at <= now:
        raise ValueError("a pending transfer must expire in the future")
    transfer = Transfer(
        kind=TransferKind.PENDING,
        code=code,
        debit_account=debit_account,
        credit_account=credit_account,
        amount=amount_minor,
        reference=reference,
        metadata=metadata or {},
        idempotency_scope=idempotency_scope,
        idempotency_key=idempotency_key,
        expires_at=expires_at,
        created_at=now,
    )

    def apply(written: Transfer) -> None:
        if not debit_account.is_system:
            _update_owned(
                debit_account.id, balance_delta=0, pending_delta=amount_minor, floor_guarded=True
            )

    return _write(transfer, apply)


def transfer_post_pending(
    *,
    pending: Transfer,
    amount_minor: int | None = None,
    reference: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    idempotency_scope: str = "",
    now: datetime | None = None,
) -> Transfer:
    """Post an open pending transfer, in full (``amount_minor=None``) or in part.

    Guarantees: a new ``post`` transfer is written with two entries for the posted amount;
    the whole reservation is released from the debit account's pending debits (a partial
    post gives the remainder back). A pending transfer is resolved at most once:
    PendingTransferAlreadyResolvedError if it was posted, voided or expired, even
    concurrently. PendingTransferExpiredError once its ``expires_at`` has passed;
    PostAmountExceedsPendingError for more than it reserved. Idempotency as transfer_create.

    Locks: the owned account rows (ascending id), a shared advisory lock per system account.
    Enqueues nothing.
    """
    require_transaction()
    now = now or timezone.now()
    if pending.kind != TransferKind.PENDING:
        raise NotPendingError()
    amount = pending.amount if amount_minor is None else amount_minor
    _validate_amount(amount)
    if amount > pending.amount:
        raise PostAmountExceedsPendingError(
            f"The pending transfer reserved {pending.amount} minor units; cannot post {amount}."
        )
    debit, credit = _accounts_of(pending)
    resolution = _resolution(
        pending,
        kind=TransferKind.POST,
        amount=amount,
        reference=reference,
        metadata=metadata,
        idempotency_key=idempotency_key,
        idempotency_scope=idempotency_scope,
        now=now,
    )

    def apply(written: Transfer) -> None:
        # Checked after the insert so that an idempotent replay still gets its first answer.
        if pending.expires_at is not None and pending.expires_at <= now:
            raise PendingTransferExpiredError()
        _post(written, debit=debit, credit=credit, amount=amount, release=pending.amount)

    return _write(resolution, apply, pending=pending)


def transfer_void_pending(
    *,
    pending: Transfer,
    reference: str | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    idempotency_scope: str = "",
    now: datetime | None = None,
) -> Transfer:
    """Void an open pending transfer: release its whole reservation, move no balance.

    Allowed until the pending transfer is resolved, even past its ``expires_at`` (voiding
    releases exactly what expiring would). Resolved at most once, as for a post.

    Locks: the debit account row if it is owned. Enqueues nothing.
    """
    require_transaction()
    return _release(
        pending,
        kind=TransferKind.VOID,
        reference=reference,
        metadata=metadata,
        idempotency_key=idempotency_key,
        idempotency_scope=idempotency_scope,
        now=now or timezone.now(),
    )


def transfer_expire_pending(*, pending: Transfer, now: datetime | None = None) -> Transfer:
    """Expire an open pending transfer whose ``expires_at`` has passed: release it in full.

    PendingTransferNotExpiredError before its deadline (or if it has none); resolved at
    most once, as for a post. Locks: the debit account row if it is owned. Enqueues nothing.
    """
    require_transaction()
    now = now or timezone.now()
    if pending.kind != TransferKind.PENDING:
        raise NotPendingError()
    if pending.expires_at is None or pending.expires_at > now:
        raise PendingTransferNotExpiredError()
    return _release(
        pending,
        kind=TransferKind.EXPIRE,
        reference=None,
        metadata=None,
        idempotency_key=None,
        idempotency_scope="",
        now=now,
    )


def transfer_expire_overdue(*, now: datetime | None = None, limit: int = 100) -> list[Transfer]:
    """Expire up to ``limit`` open pending transfers past their deadline, oldest first.

    Returns the ``expire`` transfers written. One that a concurrent post or void resolved
    first is skipped. Locks: each debit account row in turn. Enqueues nothing.
    """
    require_transaction()
    now = now or timezone.now()
    due = Transfer.objects.filter(
        kind=TransferKind.PENDING, expires_at__lte=now, resolution__isnull=True
    ).order_by("expires_at", "id")[:limit]
    expired: list[Transfer] = []
    for pending in list(due):
        try:
            expired.append(transfer_expire_pending(pending=pending, now=now))
        except PendingTransferAlreadyResolvedError:
            continue
    return expired


# --- internals ---------------------------------------------------------------------------


def _validate_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= BIGINT_MAX:
        raise InvalidAmountError()


def _validate(*, debit_account: Account, credit_account: Account, amount: int) -> None:
    _validate_amount(amount)
    if debit_account.id == credit_account.id:
        raise SameAccountError()
    if debit_account.currency != credit_account.currency:
        raise CurrencyMismatchError()


def _accounts_of(transfer: Transfer) -> tuple[Account, Account]:
    accounts = Account.objects.only("id", "owner_id", "currency", "floored").in_bulk(
        [transfer.debit_account_id, transfer.credit_account_id]
    )
    return accounts[transfer.debit_account_id], accounts[transfer.credit_account_id]


def _resolution(
    pending: Transfer,
    *,
    kind: TransferKind,
    amount: int,
    reference: str | None,
    metadata: dict[str, Any] | None,
    idempotency_key: str | None,
    idempotency_scope: str,
    now: datetime,
) -> Transfer:
    """The (unsaved) transfer that resolves ``pending``: same accounts and code."""
    return Transfer(
        kind=kind,
        code=pending.code,
        debit_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount=amount,
        pending=pending,
        reference=pending.reference if reference is None else reference,
        metadata=metadata or {},
        idempotency_scope=idempotency_scope,
        idempotency_key=idempotency_key,
        created_at=now,
    )


def _release(
    pending: Transfer,
    *,
    kind: TransferKind,
    reference: str | None,
    metadata: dict[str, Any] | None,
    idempotency_key: str | None,
    idempotency_scope: str,
    now: datetime,
) -> Transfer:
    """Void or expire: a resolution that releases the whole reservation and posts nothing."""
    if pending.kind != TransferKind.PENDING:
        raise NotPendingError()
    debit, _ = _accounts_of(pending)
    resolution = _resolution(
        pending,
        kind=kind,
        amount=pending.amount,
        reference=reference,
        metadata=metadata,
        idempotency_key=idempotency_key,
        idempotency_scope=idempotency_scope,
        now=now,
    )

    def apply(written: Transfer) -> None:
        if not debit.is_system:
            _update_owned(
                debit.id, balance_delta=0, pending_delta=-pending.amount, floor_guarded=False
            )

    return _write(resolution, apply, pending=pending)


def _write(
    transfer: Transfer, apply: Callable[[Transfer], None], *, pending: Transfer | None = None
) -> Transfer:
    """Insert ``transfer`` and apply its effect in one savepoint, or resolve a conflict.

    The insert comes first: it claims the idempotency key and the pending transfer's single
    resolution, so a concurrent duplicate waits on our row, then fails and finds it.
    """
    try:
        with transaction.atomic():
            transfer.save(force_insert=True)
            apply(transfer)
    except IntegrityError:
        if transfer.idempotency_key is not None:
            first = Transfer.objects.filter(
                idempotency_scope=transfer.idempotency_scope,
                idempotency_key=transfer.idempotency_key,
            ).first()
            if first is not None:
                _require_same_request(first, transfer)
                return first
        if pending is not None:
            resolution = Transfer.objects.filter(pending_id=pending.id).first()
            if resolution is not None:
                raise PendingTransferAlreadyResolvedError(
                    resolution=str(resolution.kind), resolution_id=str(resolution.id)
                ) from None
        raise
    return transfer


_REQUEST_FIELDS = (
    "kind",
    "code",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "pending_id",
    "reference",
)


def _require_same_request(first: Transfer, repeat: Transfer) -> None:
    """A replay must ask for the same movement; metadata and deadlines may differ."""
    differing = [
        field for field in _REQUEST_FIELDS if getattr(first, field) != getattr(repeat, field)
    ]
    if differing:
        raise IdempotencyKeyReusedError(fields=differing)


def _post(
    transfer: Transfer, *, debit: Account, credit: Account, amount: int, release: int = 0
) -> dict[int, int]:
    """Move posted balance: update owned rows in id order, lock system accounts shared,
    append the two entries. ``release`` is the pending amount the debit side gives back."""
    balances: dict[int, int | None] = {}
    sides = [
        (debit, -amount, -release, True),
        (credit, amount, 0, False),
    ]
    for account, balance_delta, pending_delta, floor_guarded in sorted(
        sides, key=lambda side: side[0].id
    ):
        if not account.is_system:
            balances[account.id] = _update_owned(
                account.id,
                balance_delta=balance_delta,
                pending_delta=pending_delta,
                floor_guarded=floor_guarded,
            )
    _lock_system_accounts_shared(account.id for account in (debit, credit) if account.is_system)
    Entry.objects.bulk_create(
        [
            Entry(
                account_id=debit.id,
                transfer=transfer,
                amount=-amount,
                balance_after=balances.get(debit.id),
                created_at=transfer.created_at,
            ),
            Entry(
                account_id=credit.id,
                transfer=transfer,
                amount=amount,
                balance_after=balances.get(credit.id),
                created_at=transfer.created_at,
            ),
        ]
    )
    return {account_id: b for account_id, b in balances.items() if b is not None}


# One posted transfer between an owned and a system account, in one statement. Each step
# reads the one before, which orders them: the guarded UPDATE of the owned row (no row back:
# the floor would break, and nothing else runs), then the shared lock on the system account,
# then the transfer, then its two entries (the lock is held before their ids are drawn, as
# account_roll_up requires). The statement is atomic on its own, so no savepoint is needed.
_POST_ONE_OWNED_SQL = """
WITH moved AS (
    UPDATE ledger_account
       SET balance = balance + %(delta)s
     WHERE id = %(owned)s
       AND owner_id IS NOT NULL
       AND (NOT floored OR balance + %(delta)s - pending_debits >= 0)
    RETURNING balance
), announced AS (
    SELECT pg_advisory_xact_lock_shared(%(lock_class)s, %(system_key)s) AS locked, m.balance
      FROM moved AS m
), transfer AS (
    INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id, amount,
                                 reference, metadata, idempotency_scope, idempotency_key,
                                 expires_at, pending_id, created_at)
    SELECT %(id)s, 'posted', %(code)s, %(debit)s, %(credit)s, %(amount)s, %(reference)s,
           %(metadata)s::jsonb, %(scope)s, NULL, NULL, NULL, %(now)s
      FROM announced
    RETURNING id
)
INSERT INTO ledger_entry (account_id, transfer_id, amount, balance_after, created_at)
SELECT e.account_id, t.id, e.amount, e.balance_after, %(now)s
  FROM transfer AS t
 CROSS JOIN announced AS a
 CROSS JOIN LATERAL (
       VALUES (0, %(debit)s::bigint, -%(amount)s::bigint,
               CASE WHEN %(debit_owned)s THEN a.balance END),
              (1, %(credit)s::bigint, %(amount)s::bigint,
               CASE WHEN %(debit_owned)s THEN NULL ELSE a.balance END)
       ) AS e(side, account_id, amount, balance_after)
 ORDER BY e.side
RETURNING balance_after
"""


def _post_one_owned(
    *,
    debit: Account,
    credit: Account,
    amount: int,
    code: str,
    reference: str,
    metadata: dict[str, Any],
    idempotency_scope: str,
    now: datetime,
) -> TransferResult:
    owned, system = (credit, debit) if debit.is_system else (debit, credit)
    transfer_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            _POST_ONE_OWNED_SQL,
            {
                "delta": amount if owned is credit else -amount,
                "owned": owned.id,
                "lock_class": SYSTEM_ACCOUNT_LOCK_CLASS,
                "system_key": system.id & _INT4_MASK,
                "id": transfer_id,
                "code": code,
                "debit": debit.id,
                "credit": credit.id,
                "amount": amount,
                "reference": reference,
                "metadata": json.dumps(metadata),
                "scope": idempotency_scope,
                "now": now,
                "debit_owned": owned is debit,
            },
        )
        rows = cursor.fetchall()
    if not rows:
        if owned is debit:
            raise InsufficientFundsError()
        raise LedgerInconsistencyError(f"account {owned.id} refused a credit")
    balance_cache_invalidate_on_commit(account_id=owned.id)
    transfer = Transfer(
        id=transfer_id,
        kind=TransferKind.POSTED,
        code=code,
        debit_account=debit,
        credit_account=credit,
        amount=amount,
        reference=reference,
        metadata=metadata,
        idempotency_scope=idempotency_scope,
        idempotency_key=None,
        created_at=now,
    )
    transfer._state.adding = False
    transfer._state.db = connection.alias
    balance = next(row[0] for row in rows if row[0] is not None)
    return TransferResult(transfer=transfer, balances_after={owned.id: int(balance)})


def _update_owned(
    account_id: int, *, balance_delta: int, pending_delta: int, floor_guarded: bool
) -> int:
    """Change an owned account in one statement that checks and changes; return its balance.

    The WHERE clause is the floor: a floored account is only changed if it keeps
    balance - pending_debits >= 0. No row back means the floor would break.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE ledger_account
               SET balance = balance + %(balance_delta)s,
                   pending_debits = pending_debits + %(pending_delta)s
             WHERE id = %(id)s
               AND owner_id IS NOT NULL
               AND pending_debits + %(pending_delta)s >= 0
               AND (NOT floored
                    OR balance + %(balance_delta)s - (pending_debits + %(pending_delta)s) >= 0)
            RETURNING balance
            """,
            {"id": account_id, "balance_delta": balance_delta, "pending_delta": pending_delta},
        )
        row = cursor.fetchone()
    if row is None:
        if floor_guarded:
            raise InsufficientFundsError()
        raise LedgerInconsistencyError(f"account {account_id} refused a release or a credit")
    balance_cache_invalidate_on_commit(account_id=account_id)
    return int(row[0])


def _lock_system_accounts_shared(account_ids: Iterable[int]) -> None:
    """Announce that this transaction appends entries to these system accounts.

    Shared advisory locks never wait on each other, so transfers of different vendors to
    the same system account run side by side; only account_roll_up waits for them.
    """
    keys = sorted({account_id & _INT4_MASK for account_id in account_ids})
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, key) FROM unnest(%s::int[]) AS key",
            [SYSTEM_ACCOUNT_LOCK_CLASS, keys],
        )
