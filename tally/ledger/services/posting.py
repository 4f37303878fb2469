"""The posting core: every transfer, whatever its shape, is written by ``movement_write``.

A *movement* is one transfer row plus what it does to its two accounts: for each side a
change of posted balance and of pending debits, and whether the side is floor-guarded; and
whether it writes entries (immediate and post_pending transfers do). Immediate, pending,
post, void and expire transfers, with one owned account or two, are all movements, and all
are written by ONE SQL statement built here:

1. ``locked``: when two owned rows change, both are locked in ascending id order first
   (``ORDER BY id FOR NO KEY UPDATE`` locks rows in sorted order), so two transfers can
   never wait on each other in a cycle;
2. the owned rows' conditional ``UPDATE ... WHERE <floor holds> RETURNING balance``, debit
   side first, each reading the step before it (a data dependency orders them): a debit the
   floor refuses returns no row, and then nothing after it runs;
3. ``announced``: a *shared* advisory lock per system account that gets an entry (system
   rows are never updated by a transfer; ``account_roll_up`` takes the lock exclusively);
4. the transfer row; 5. its two entries, with the owned sides' balances after.

One statement is atomic on its own: a refused movement writes nothing and leaves the
caller's transaction usable, so it needs no savepoint. Only movements that can lose a race
to a unique constraint (an idempotency key, a pending transfer's single resolution) run in a
savepoint, so the loser can look up the winner and answer with it.
"""

from __future__ import annotations

# The statements are joined from this module's constant fragments; values are parameters.
# ruff: noqa: S608
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction

from tally.ledger import metrics
from tally.ledger.balance_cache import balance_cache_invalidate
from tally.ledger.exceptions import (
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    PendingTransferAlreadyResolvedError,
)
from tally.ledger.models import Account, Transfer

# Advisory lock namespace (the first key of PostgreSQL's two-key form) for "entries are
# being appended to this system account". Transfers take it shared; the roll-up exclusive.
SYSTEM_ACCOUNT_LOCK_CLASS = 0x1ED6E4
_INT4_MASK = 0x7FFFFFFF


def system_lock_key(account_id: int) -> int:
    """The second key of a system account's advisory lock (PostgreSQL's int4)."""
    return account_id & _INT4_MASK


class LedgerInconsistencyError(RuntimeError):
    """The database disagrees with an invariant the ledger maintains; never expected."""


@dataclass(frozen=True)
class Side:
    """What a movement does to one of its accounts, in minor units."""

    account: Account
    balance_delta: int = 0
    pending_delta: int = 0
    # A floored account that would end below zero available refuses the movement.
    guarded: bool = False

    @property
    def changes_row(self) -> bool:
        return not self.account.is_system and bool(self.balance_delta or self.pending_delta)


@dataclass(frozen=True)
class Movement:
    """One transfer row (its column values by attname) and its effect on both accounts."""

    values: dict[str, Any]
    debit: Side
    credit: Side
    # Immediate and post_pending transfers write one entry per side.
    writes_entries: bool
    # Checked after the write, inside the savepoint (a post past its deadline): raising
    # undoes the write, while a replay of the same idempotency key still gets its answer.
    check: Callable[[], None] | None = field(default=None, compare=False)

    @property
    def may_conflict(self) -> bool:
        return self.values["idempotency_key"] is not None or self.values["pending_id"] is not None


@dataclass(frozen=True)
class TransferResult:
    transfer: Transfer
    # The owned accounts' posted balances right after the transfer, by account id. The
    # rows stay locked by this transaction, so these are what it commits.
    balances_after: dict[int, int]


_TRANSFER_FIELDS = [f.attname for f in Transfer._meta.concrete_fields]
_TRANSFER_COLUMNS = ", ".join(f'"{f.column}"' for f in Transfer._meta.concrete_fields)
_TRANSFER_VALUES = ", ".join(
    "%(t_metadata)s::jsonb" if name == "metadata" else f"%(t_{name})s" for name in _TRANSFER_FIELDS
)
_ROW_GUARD = """
       AND owner_id IS NOT NULL
       AND pending_debits + %({p})s >= 0
       AND (NOT floored OR balance + %({b})s - (pending_debits + %({p})s) >= 0)"""


@dataclass(frozen=True)
class _Shape:
    """What decides the text of a movement's statement (its values are parameters)."""

    debit_changes: bool
    credit_changes: bool
    system_accounts: int  # system accounts that get an entry, and so a shared lock
    writes_entries: bool
    # The transfer row goes first, to claim a unique key before anything changes.
    claim_first: bool


def _statement(movement: Movement) -> tuple[str, dict[str, Any]]:
    """The one SQL statement that writes ``movement`` (see the module docstring)."""
    debit, credit = movement.debit, movement.credit
    params: dict[str, Any] = {
        f"t_{name}": json.dumps(value) if name == "metadata" else value
        for name, value in movement.values.items()
    }
    params.update(
        debit_id=debit.account.id,
        debit_b=debit.balance_delta,
        debit_p=debit.pending_delta,
        credit_id=credit.account.id,
        credit_b=credit.balance_delta,
        credit_p=credit.pending_delta,
        lock_ids=sorted((debit.account.id, credit.account.id)),
        lock_class=SYSTEM_ACCOUNT_LOCK_CLASS,
        system_keys=sorted(
            {system_lock_key(side.account.id) for side in (debit, credit) if side.account.is_system}
        ),
    )
    shape = _Shape(
        debit_changes=debit.changes_row,
        credit_changes=credit.changes_row,
        system_accounts=len(params["system_keys"]) if movement.writes_entries else 0,
        writes_entries=movement.writes_entries,
        claim_first=movement.may_conflict,
    )
    return _sql(shape), params


@functools.cache
def _sql(shape: _Shape) -> str:
    """The statement's text for one shape; built once per shape and kept.

    Every step reads the one before it, which orders them. Guard first (no unique
    constraint can refuse the row): the owned rows' updates, the shared locks, then the
    transfer row, so a refused floor writes nothing and returns no row. Claim first (an
    idempotency key or a pending transfer's resolution): the transfer row first, so a
    duplicate conflicts before it changes anything; a refused floor then returns a NULL
    balance, and the caller's savepoint undoes the claim.

    Only constant fragments of this module are joined here: every value is a parameter.
    """
    ctes: list[str] = []
    gate: str | None = None  # the last step; each step runs only if the one before gave a row
    transfer = (
        f"transfer AS (INSERT INTO ledger_transfer ({_TRANSFER_COLUMNS}) SELECT {_TRANSFER_VALUES}"
        "{source} RETURNING id)"
    )
    if shape.claim_first:
        ctes.append(transfer.format(source=""))
        gate = "transfer"
    changing = [
        name
        for name, changes in (("debit", shape.debit_changes), ("credit", shape.credit_changes))
        if changes
    ]
    if len(changing) == 2:
        ctes.append(
            "locked AS (SELECT id FROM ledger_account WHERE id = ANY(%(lock_ids)s)"  # nosec B608  # built from constants; values are parameters
            + (f" AND EXISTS (SELECT 1 FROM {gate})" if gate else "")  # nosec B608  # built from constants; values are parameters
            + " ORDER BY id FOR NO KEY UPDATE)"
        )
    for position, name in enumerate(changing):
        if position == 0 and len(changing) == 2:
            # Both rows are locked (after the claim, if any) before either changes.
            after = "\n       AND (SELECT count(*) FROM locked) = 2"
        elif gate is not None:
            after = f"\n       AND EXISTS (SELECT 1 FROM {gate})"  # nosec B608  # built from constants; values are parameters
        else:
            after = ""
        ctes.append(
            f"u_{name} AS (UPDATE ledger_account"  # nosec B608  # built from constants; values are parameters
            f" SET balance = balance + %({name}_b)s,"
            f" pending_debits = pending_debits + %({name}_p)s"
            f" WHERE id = %({name}_id)s"
            + _ROW_GUARD.format(b=f"{name}_b", p=f"{name}_p")
            + after
            + " RETURNING balance)"
        )
        gate = f"u_{name}"
    if shape.system_accounts:
        ctes.append(
            "announced AS (SELECT count(pg_advisory_xact_lock_shared(%(lock_class)s, key)) AS n"
            + (f" FROM {gate} CROSS JOIN" if gate else " FROM")
            + " unnest(%(system_keys)s::int[]) AS key)"
        )
        ready = f"(SELECT n FROM announced) = {shape.system_accounts}"  # nosec B608  # built from constants; values are parameters
    else:
        ready = f"EXISTS (SELECT 1 FROM {gate})" if gate else "true"  # nosec B608  # built from constants; values are parameters
    if not shape.claim_first:
        ctes.append(transfer.format(source=f" WHERE {ready}"))
        ready = "true"
    debit_after = "(SELECT balance FROM u_debit)" if shape.debit_changes else "NULL::bigint"
    credit_after = "(SELECT balance FROM u_credit)" if shape.credit_changes else "NULL::bigint"
    counted = "0"
    if shape.writes_entries:
        ctes.append(
            "entries AS (INSERT INTO ledger_entry"  # nosec B608  # built from constants; values are parameters
            " (account_id, transfer_id, amount, balance_after, created_at)"
            " SELECT e.account_id, t.id, e.amount, e.balance_after, %(t_created_at)s"
            " FROM transfer AS t CROSS JOIN LATERAL (VALUES"
            f" (0, %(debit_id)s::bigint, -%(t_amount)s::bigint, {debit_after}),"
            f" (1, %(credit_id)s::bigint, %(t_amount)s::bigint, {credit_after})"
            f") AS e(side, account_id, amount, balance_after) WHERE {ready}"
            " ORDER BY e.side RETURNING 1)"
        )
        counted = "(SELECT count(*) FROM entries)"
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT t.id, {debit_after}, {credit_after}, {counted} FROM transfer AS t"  # nosec B608  # built from constants; values are parameters
    )


def _execute(movement: Movement) -> TransferResult:
    sql, params = _statement(movement)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        if movement.debit.guarded and movement.debit.changes_row:
            raise _insufficient(movement)
        raise _refused(movement)
    _, debit_after, credit_after, entries = row
    if movement.debit.changes_row and debit_after is None:
        # Claim first: the transfer row went in, the debit's floor refused (savepoint undoes).
        raise _insufficient(movement) if movement.debit.guarded else _refused(movement)
    if movement.credit.changes_row and credit_after is None:
        raise _refused(movement)
    if movement.writes_entries and entries != 2:
        raise LedgerInconsistencyError(f"transfer {row[0]} wrote {entries} entries, not 2")
    balances: dict[int, int] = {}
    for side, after in ((movement.debit, debit_after), (movement.credit, credit_after)):
        if side.changes_row:
            balances[side.account.id] = int(after)
    # One hook per movement, run only if it commits (a savepoint rolled back drops it).
    transaction.on_commit(
        functools.partial(
            _movement_committed,
            tuple(balances),
            movement.values["code"],
            movement.values["amount"] if movement.writes_entries else 0,
        ),
        robust=True,
    )
    transfer = Transfer.from_db(
        connection.alias, _TRANSFER_FIELDS, [movement.values[name] for name in _TRANSFER_FIELDS]
    )
    return TransferResult(transfer=transfer, balances_after=balances)


def _movement_committed(account_ids: tuple[int, ...], code: str, moved_minor: int) -> None:
    """After commit: retire the changed balances' cached values (one Redis round trip) and
    count the money that moved (immediate and posted transfers; a pending transfer, a void
    or an expiry only reserves or releases)."""
    if account_ids:
        balance_cache_invalidate(account_ids=account_ids)
    if moved_minor:
        metrics.transfer_count(code=code, amount_minor=moved_minor)


def _insufficient(movement: Movement) -> InsufficientFundsError:
    metrics.insufficient_funds_count(code=movement.values["code"])
    return InsufficientFundsError()


def _refused(movement: Movement) -> LedgerInconsistencyError:
    return LedgerInconsistencyError(
        f"accounts {movement.debit.account.id} and {movement.credit.account.id}"
        " refused a movement that cannot break a floor"
    )


def movement_write(movement: Movement) -> TransferResult:
    """Write ``movement``: the transfer row, its entries and the owned rows' changes, all or
    nothing. Must run inside the caller's transaction.

    A movement that can lose a race to a unique constraint runs in a savepoint: the loser of
    an idempotency key gets the first transfer back (IdempotencyKeyReusedError if it asked
    for a different movement); the loser of a pending transfer's resolution gets
    PendingTransferAlreadyResolvedError. The insert of the transfer row comes after the
    account updates in the statement, so a concurrent duplicate waits on the winner's row,
    then fails and finds it.
    """
    if not movement.may_conflict:
        return _execute(movement)
    try:
        with transaction.atomic():
            result = _execute(movement)
            if movement.check is not None:
                movement.check()
            return result
    except IntegrityError:
        winner = _winner(movement)
        if winner is not None:
            return winner
        raise


def _winner(movement: Movement) -> TransferResult | None:
    """The transfer that beat ``movement`` to its idempotency key (a replay: moves nothing),
    or PendingTransferAlreadyResolvedError for a lost resolution; None if neither."""
    values = movement.values
    if values["idempotency_key"] is not None:
        first = Transfer.objects.filter(
            idempotency_scope=values["idempotency_scope"], idempotency_key=values["idempotency_key"]
        ).first()
        if first is not None:
            _require_same_request(first, values)
            return TransferResult(transfer=first, balances_after={})
    pending_id: UUID | None = values["pending_id"]
    if pending_id is not None:
        resolution = Transfer.objects.filter(pending_id=pending_id).first()
        if resolution is not None:
            raise PendingTransferAlreadyResolvedError(
                resolution=str(resolution.kind), resolution_id=str(resolution.id)
            ) from None
    return None


_REQUEST_FIELDS = (
    "kind",
    "code",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "pending_id",
    "reference",
)


def _require_same_request(first: Transfer, values: dict[str, Any]) -> None:
    """A replay must ask for the same movement; metadata and deadlines may differ."""
    differing = [name for name in _REQUEST_FIELDS if getattr(first, name) != values[name]]
    if differing:
        raise IdempotencyKeyReusedError(fields=differing)


def transfer_values(**values: Any) -> dict[str, Any]:
    """A transfer row's column values by attname, every column present (defaults filled)."""
    row: dict[str, Any] = dict.fromkeys(_TRANSFER_FIELDS)
    row.update(reference="", metadata={}, idempotency_scope="")
    unknown = set(values) - set(row)
    if unknown:
        raise TypeError(f"not transfer columns: {sorted(unknown)}")
    row.update(values)
    return row
