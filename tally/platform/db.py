"""Database helpers shared by every app."""

from __future__ import annotations

from django.db import connection


class TransactionRequiredError(RuntimeError):
    """A primitive that must join its caller's transaction was called outside one."""


def require_transaction() -> None:
    """Refuse to run outside ``transaction.atomic``.

    Ledger and outbox primitives never open a transaction of their own: the use case that
    calls them owns exactly one, so the money movement and its business record commit once.
    """
    if not connection.in_atomic_block:
        raise TransactionRequiredError("this operation must run inside transaction.atomic()")
