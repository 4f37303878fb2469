"""Database helpers shared by every app."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


class TransactionRequiredError(RuntimeError):
    """A primitive that must join its caller's transaction was called outside one."""


def require_transaction() -> None:
    """Refuse to run outside ``transaction.atomic``.

    Ledger and outbox primitives never open a transaction of their own: the use case that
    calls them owns exactly one, so the money movement and its business record commit once.
    """
    if not connection.in_atomic_block:
        raise TransactionRequiredError("this operation must run inside transaction.atomic()")


def transaction_own_or_join() -> AbstractContextManager[object]:
    """A transaction of its own, or, inside a caller's, simply the caller's (no savepoint).

    For use cases on the hot path whose failures write nothing before they are raised (a
    refused conditional statement) and whose database errors end the caller's transaction
    anyway: a savepoint would cost two round trips and protect nothing.
    """
    if connection.in_atomic_block:
        return nullcontext()
    return transaction.atomic()
