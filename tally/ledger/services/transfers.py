"""Transfers: immediate, pending, and the three ways to resolve a pending one.

Each function here checks its arguments, describes its transfer as a movement (what it
does to each account) and hands it to the posting core (``posting.movement_write``), which
writes every shape the same way: one statement, a savepoint only when a unique constraint
may decide a race. Every function joins its caller's transaction and never opens one.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict, Unpack

from django.utils import timezone

from tally.ledger.exceptions import (
    CurrencyMismatchError,
    InvalidAmountError,
    NotPendingError,
    PendingTransferAlreadyResolvedError,
    PendingTransferExpiredError,
    PendingTransferNotExpiredError,
    PostAmountExceedsPendingError,
    SameAccountError,
)
from tally.ledger.models import Account, Transfer, TransferKind
from tally.ledger.services.posting import (
    Movement,
    Side,
    TransferResult,
    movement_write,
    transfer_values,
)
from tally.ledger.vocabulary import TransferCode, transfer_code_get
from tally.platform.db import require_transaction

BIGINT_MAX = 2**63 - 1


class NewTransfer(TypedDict):
    """The arguments every new transfer takes (immediate or pending), keyword-only."""

    debit_account: Account
    credit_account: Account
    amount_minor: int  # minor units, > 0
    code: TransferCode | str  # registered by the calling feature
    reference: NotRequired[str]
    metadata: NotRequired[dict[str, Any] | None]
    idempotency_key: NotRequired[str | None]
    idempotency_scope: NotRequired[str]


def transfer_create(
    *, now: datetime | None = None, **transfer: Unpack[NewTransfer]
) -> TransferResult:
    """Move ``amount_minor`` from ``debit_account`` to ``credit_account`` at once.

    Guarantees: the transfer row and its two entries are written, and the owned accounts'
    balances changed, together or not at all; the result carries the owned accounts'
    balances right after it. A floored debit account never ends below zero available
    (balance - pending debits): if it would, InsufficientFundsError and nothing is written.
    With an ``idempotency_key``, a repeat in the same scope returns the first transfer and
    moves nothing (its ``balances_after`` is empty); the same key with different parameters
    raises IdempotencyKeyReusedError. ``code`` must be registered.

    One SQL statement whatever the accounts (one owned and one system, like a sale, or two
    owned, like a wallet payment); a savepoint only with an idempotency key.

    Locks: the owned account rows (ascending id), a shared advisory lock per system account.
    Enqueues nothing.
    """
    require_transaction()
    amount = transfer["amount_minor"]
    return movement_write(
        Movement(
            values=_new_transfer_values(
                TransferKind.IMMEDIATE, transfer, now=now or timezone.now()
            ),
            debit=Side(transfer["debit_account"], balance_delta=-amount, guarded=True),
            credit=Side(transfer["credit_account"], balance_delta=amount),
            writes_entries=True,
        )
    )


def transfer_create_pending(
    *,
    timeout_seconds: int | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
    **transfer: Unpack[NewTransfer],
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
    if timeout_seconds is not None:
        if expires_at is not None:
            raise ValueError("give timeout_seconds or expires_at, not both")
        expires_at = now + timedelta(seconds=timeout_seconds)
    if expires_at is not None and expires_at <= now:
        raise ValueError("a pending transfer must expire in the future")
    return movement_write(
        Movement(
            values=_new_transfer_values(
                TransferKind.PENDING, transfer, now=now, expires_at=expires_at
            ),
            debit=Side(
                transfer["debit_account"], pending_delta=transfer["amount_minor"], guarded=True
            ),
            credit=Side(transfer["credit_account"]),
            writes_entries=False,
        )
    ).transfer


class Resolution(TypedDict, total=False):
    """The optional arguments of a post or a void, keyword-only."""

    reference: str | None  # None: the pending transfer's reference
    metadata: dict[str, Any] | None
    idempotency_key: str | None
    idempotency_scope: str


def transfer_post_pending(
    *,
    pending: Transfer,
    amount_minor: int | None = None,
    now: datetime | None = None,
    **resolution: Unpack[Resolution],
) -> Transfer:
    """Post an open pending transfer, in full (``amount_minor=None``) or in part.

    Guarantees: a new ``post_pending`` transfer is written with two entries for the posted
    amount; the whole reservation is released from the debit account's pending debits (a
    partial post gives the remainder back). A pending transfer is resolved at most once:
    PendingTransferAlreadyResolvedError if it was posted, voided or expired, even
    concurrently. PendingTransferExpiredError once its ``expires_at`` has passed;
    PostAmountExceedsPendingError for more than it reserved. Idempotency as transfer_create.

    Locks: the owned account rows (ascending id), a shared advisory lock per system account.
    Enqueues nothing.
    """
    require_transaction()
    now = now or timezone.now()
    _require_pending(pending)
    amount = pending.amount if amount_minor is None else amount_minor
    _validate_amount(amount)
    if amount > pending.amount:
        raise PostAmountExceedsPendingError(
            f"The pending transfer reserved {pending.amount} minor units; cannot post {amount}."
        )
    debit, credit = _accounts_of(pending)

    def refuse_if_expired() -> None:
        if pending.expires_at is not None and pending.expires_at <= now:
            raise PendingTransferExpiredError()

    return movement_write(
        Movement(
            values=_resolution_values(
                pending, TransferKind.POST_PENDING, resolution, amount=amount, now=now
            ),
            debit=Side(debit, balance_delta=-amount, pending_delta=-pending.amount, guarded=True),
            credit=Side(credit, balance_delta=amount),
            writes_entries=True,
            check=refuse_if_expired,
        )
    ).transfer


def transfer_void_pending(
    *, pending: Transfer, now: datetime | None = None, **resolution: Unpack[Resolution]
) -> Transfer:
    """Void an open pending transfer: release its whole reservation, move no balance.

    Allowed until the pending transfer is resolved, even past its ``expires_at`` (voiding
    releases exactly what expiring would). Resolved at most once, as for a post.

    Locks: the debit account row if it is owned. Enqueues nothing.
    """
    require_transaction()
    return _release(pending, TransferKind.VOID_PENDING, resolution, now=now or timezone.now())


def transfer_expire_pending(*, pending: Transfer, now: datetime | None = None) -> Transfer:
    """Expire an open pending transfer whose ``expires_at`` has passed: release it in full.

    PendingTransferNotExpiredError before its deadline (or if it has none); resolved at
    most once, as for a post. Locks: the debit account row if it is owned. Enqueues nothing.
    """
    require_transaction()
    now = now or timezone.now()
    _require_pending(pending)
    if pending.expires_at is None or pending.expires_at > now:
        raise PendingTransferNotExpiredError()
    return _release(pending, TransferKind.EXPIRE_PENDING, {}, now=now)


def transfer_expire_overdue(*, now: datetime | None = None, limit: int = 100) -> list[Transfer]:
    """Expire up to ``limit`` open pending transfers past their deadline, oldest first.

    Returns the ``expire_pending`` transfers written. One that a concurrent post or void
    resolved first is skipped. Locks: each debit account row in turn. Enqueues nothing.
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


def _new_transfer_values(
    kind: TransferKind, transfer: NewTransfer, *, now: datetime, expires_at: datetime | None = None
) -> dict[str, Any]:
    """The checked row of a new immediate or pending transfer."""
    debit, credit = transfer["debit_account"], transfer["credit_account"]
    _validate(debit_account=debit, credit_account=credit, amount=transfer["amount_minor"])
    return transfer_values(
        id=uuid.uuid4(),
        kind=kind,
        code=transfer_code_get(transfer["code"]).value,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        amount=transfer["amount_minor"],
        reference=transfer.get("reference", ""),
        metadata=transfer.get("metadata") or {},
        idempotency_scope=transfer.get("idempotency_scope", ""),
        idempotency_key=transfer.get("idempotency_key"),
        expires_at=expires_at,
        created_at=now,
    )


def _require_pending(transfer: Transfer) -> None:
    if transfer.kind != TransferKind.PENDING:
        raise NotPendingError()


def _accounts_of(transfer: Transfer) -> tuple[Account, Account]:
    accounts = Account.objects.only("id", "owner_id", "currency", "floored").in_bulk(
        [transfer.debit_account_id, transfer.credit_account_id]
    )
    return accounts[transfer.debit_account_id], accounts[transfer.credit_account_id]


def _resolution_values(
    pending: Transfer, kind: TransferKind, resolution: Resolution, *, amount: int, now: datetime
) -> dict[str, Any]:
    """The row of the transfer that resolves ``pending``: same accounts and code."""
    reference = resolution.get("reference")
    return transfer_values(
        id=uuid.uuid4(),
        kind=kind,
        code=pending.code,
        debit_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount=amount,
        pending_id=pending.id,
        reference=pending.reference if reference is None else reference,
        metadata=resolution.get("metadata") or {},
        idempotency_scope=resolution.get("idempotency_scope", ""),
        idempotency_key=resolution.get("idempotency_key"),
        created_at=now,
    )


def _release(
    pending: Transfer, kind: TransferKind, resolution: Resolution, *, now: datetime
) -> Transfer:
    """Void or expire: a resolution that releases the whole reservation and posts nothing."""
    _require_pending(pending)
    debit, credit = _accounts_of(pending)
    return movement_write(
        Movement(
            values=_resolution_values(pending, kind, resolution, amount=pending.amount, now=now),
            debit=Side(debit, pending_delta=-pending.amount),
            credit=Side(credit),
            writes_entries=False,
        )
    ).transfer
