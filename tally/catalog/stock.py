"""Stock of limited variants: reserved by orders, released exactly once. The database decides.

A reservation is one conditional statement per variant, in the order's transaction::

    UPDATE catalog_variant SET stock = stock - q WHERE id = … AND stock >= q RETURNING stock

so two buyers of the last unit cannot both succeed, whatever their timing, and the
``stock >= 0`` CHECK constraint backs it. Variants are updated in id order, so two orders
sharing variants lock them in the same order and cannot deadlock. The Redis counter
(``tally.catalog.stock_counter``) is consulted first, by ``stock_take_fast``, outside or
before the database work; it can only refuse early, never grant.

A release adds the units back in the same way; the caller (the order's transition out of a
stock-holding state) makes it happen once. After the release commits, the counter gets the
units back too.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import connection, transaction

from tally.catalog import metrics
from tally.catalog.exceptions import OutOfStockError
from tally.catalog.models import Variant
from tally.catalog.stock_counter import (
    Take,
    stock_counter_forget,
    stock_counter_give_back,
    stock_counter_take,
)
from tally.platform.db import require_transaction

_TABLE = connection.ops.quote_name(Variant._meta.db_table)
_RESERVE_SQL = (
    f"UPDATE {_TABLE} SET stock = stock - %s "  # noqa: S608  # nosec B608  # table and column names from the models; values are parameters
    "WHERE id = %s AND stock IS NOT NULL AND stock >= %s RETURNING stock"
)
_RELEASE_SQL = (
    f"UPDATE {_TABLE} SET stock = stock + %s "  # noqa: S608  # nosec B608  # table and column names from the models; values are parameters
    "WHERE id = %s AND stock IS NOT NULL RETURNING stock"
)


@dataclass(frozen=True)
class StockLine:
    """``quantity`` units of one limited variant."""

    variant_id: UUID
    quantity: int


def _in_lock_order(lines: Sequence[StockLine]) -> list[StockLine]:
    return sorted(lines, key=lambda line: line.variant_id)


def _stock_now(variant_id: UUID) -> int | None:
    return Variant.objects.filter(pk=variant_id).values_list("stock", flat=True).first()


def stock_take_fast(*, lines: Sequence[StockLine]) -> list[StockLine]:
    """Take the lines' units from the Redis counters, before any database work.

    Returns the lines whose units were taken (give them back with ``stock_give_back_fast``
    if the order does not commit). Raises ``OutOfStockError`` (422 ``out_of_stock``) if a
    counter shows too few units, after giving back what it took.
    """
    taken: list[StockLine] = []
    for line in lines:
        answer = stock_counter_take(
            variant_id=line.variant_id,
            quantity=line.quantity,
            rebuild_from=functools.partial(_stock_now, line.variant_id),
        )
        if answer is Take.SOLD_OUT:
            stock_give_back_fast(lines=taken)
            metrics.STOCK_REFUSALS.labels(by="counter").inc()
            raise OutOfStockError(variant_id=str(line.variant_id))
        if answer is Take.TAKEN:
            taken.append(line)
    return taken


def stock_give_back_fast(*, lines: Sequence[StockLine]) -> None:
    """Give units taken by ``stock_take_fast`` back to their counters."""
    for line in lines:
        stock_counter_give_back(variant_id=line.variant_id, quantity=line.quantity)


def stock_reserve(*, lines: Sequence[StockLine]) -> None:
    """Take the lines' units from the database's stock, in the caller's transaction.

    All or nothing: raises ``OutOfStockError`` (422 ``out_of_stock``) for the first line
    with too few units, and the caller's transaction (which must roll back) undoes the
    lines already taken. That variant's Redis counter is dropped (it allowed what the
    database refused), so the next reader rebuilds it.
    """
    require_transaction()
    with connection.cursor() as cursor:
        for line in _in_lock_order(lines):
            cursor.execute(_RESERVE_SQL, [line.quantity, line.variant_id, line.quantity])
            if cursor.fetchone() is None:
                metrics.STOCK_REFUSALS.labels(by="database").inc()
                stock_counter_forget(variant_id=line.variant_id)
                raise OutOfStockError(variant_id=str(line.variant_id))


def stock_release(*, lines: Sequence[StockLine]) -> None:
    """Give the lines' units back to the database's stock, in the caller's transaction;
    once it commits, to the Redis counters too. The caller guarantees it runs once per
    reservation (see ``tally.orders.services``)."""
    require_transaction()
    with connection.cursor() as cursor:
        for line in _in_lock_order(lines):
            cursor.execute(_RELEASE_SQL, [line.quantity, line.variant_id])
    released = list(lines)
    transaction.on_commit(lambda: stock_give_back_fast(lines=released), robust=True)


def stock_changed_on_commit(*, variant_id: UUID) -> None:
    """A vendor or admin set the variant's stock: drop its counter once that commits."""
    transaction.on_commit(lambda: stock_counter_forget(variant_id=variant_id), robust=True)
