"""Database helpers shared by every app: the one way a use case opens its transaction."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import wraps
from typing import Any, ParamSpec, TypeVar, overload

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

P = ParamSpec("P")
R = TypeVar("R")


class TransactionRequiredError(RuntimeError):
    """A primitive that must join its caller's transaction was called outside one."""


class TransactionOpenError(RuntimeError):
    """A call to an outside system was attempted while a database transaction is open."""


def require_transaction() -> None:
    """Refuse to run outside ``transaction.atomic``.

    Ledger and outbox primitives never open a transaction of their own: the use case that
    calls them owns exactly one, so the money movement and its business record commit once.
    """
    if not connection.in_atomic_block:
        raise TransactionRequiredError("this operation must run inside transaction.atomic()")


def require_no_transaction() -> None:
    """Refuse to run inside ``transaction.atomic``: call it before calling an outside system.

    A slow partner must never hold row locks or a transaction open (docs/architecture.md,
    "Calling an outside system").
    """
    if connection.in_atomic_block:
        raise TransactionOpenError("outside systems are never called inside a transaction")


REPLICA_ALIAS = "replica"


def read_replica() -> str:
    """The database alias for a read that may lag the primary: ``"replica"`` when
    ``DATABASE_REPLICA_URL`` is set, otherwise ``"default"``.

    Only read-only pages that tolerate the replica's replay delay ask for it (statement
    pages: ``tally.ledger.serializers.statement_response``), with ``.using(read_replica())``.
    Balances, guarded lookups that authorize a write, and every read a use case makes stay on
    the primary, where money is decided. Inside ``transaction.atomic`` it answers
    ``"default"`` as well: a read in a transaction must see that transaction's own writes.
    """
    if REPLICA_ALIAS not in connections.settings or connection.in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA_ALIAS


class PrimaryRouter:
    """Every read and write goes to the primary unless a query names the replica itself
    (``read_replica()``): nothing is routed to it implicitly, nothing is written or migrated
    there (a streaming replica is read-only and receives the primary's schema by replay)."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # The replica holds the primary's rows: objects read from either may be related.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def _innermost_is_a_use_case() -> bool:
    blocks = connection.atomic_blocks
    return bool(blocks) and getattr(blocks[-1], "tally_use_case", False)


def use_case_transaction(*, refusals_write_nothing: bool = False) -> AbstractContextManager[object]:
    """The transaction of one use case: its own, or the use case layer's it runs in.

    - Outside any transaction (a task, a request without ``Idempotency-Key``, the shell):
      a durable transaction of its own, so nobody can wrap it by accident and commit later.
    - Directly inside a block opened here (the idempotency layer's, so that the key record
      commits with the effect; an outbox task's; another use case's): it joins that
      transaction with no savepoint. A savepoint would cost two round trips and protect
      nothing: an exception leaving the use case propagates out of the enclosing layer,
      which rolls everything back, and Django marks the joined transaction for rollback
      (``atomic(savepoint=False)``) so even a caller that swallowed it could not commit a
      half-done use case.
    - Inside any other ``transaction.atomic`` (a caller that means to catch and carry on, a
      test): a savepoint, so a refused use case leaves that transaction usable and intact.

    ``refusals_write_nothing=True`` is for hot-path use cases (the sale) whose every refusal
    is raised before they write anything, and whose database errors abort the transaction
    anyway: inside any caller's transaction they simply run in it, with no savepoint and
    without marking it for rollback, so a caller may catch the refusal and carry on.
    """
    if not connection.in_atomic_block:
        block = transaction.atomic(durable=True)
    elif refusals_write_nothing:
        return nullcontext()
    elif _innermost_is_a_use_case():
        block = transaction.atomic(savepoint=False)
    else:
        block = transaction.atomic()
    block.tally_use_case = True  # type: ignore[attr-defined]
    return block


@overload
def use_case(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def use_case(
    *, refusals_write_nothing: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def use_case(
    function: Callable[P, R] | None = None, /, *, refusals_write_nothing: bool = False
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated service in its use case's transaction (``use_case_transaction``).

    ``@use_case`` for every use case; ``@use_case(refusals_write_nothing=True)`` only for
    one whose refusals all come before its first write (see ``use_case_transaction``).
    """

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @wraps(service)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with use_case_transaction(refusals_write_nothing=refusals_write_nothing):
                return service(*args, **kwargs)

        return run

    return decorate if function is None else decorate(function)
