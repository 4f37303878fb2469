"""Ledger rows are append-only: the database itself refuses UPDATE and DELETE."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from tally.ledger.models import Account, Entry, Transfer
from tally.ledger.testing import fund

pytestmark = pytest.mark.django_db


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a test constant
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("ledger_entry", "UPDATE ledger_entry SET amount = amount + 1"),
        ("ledger_entry", "UPDATE ledger_entry SET balance_after = NULL"),
        ("ledger_entry", "DELETE FROM ledger_entry"),
        ("ledger_transfer", "UPDATE ledger_transfer SET reference = 'edited'"),
        ("ledger_transfer", "UPDATE ledger_transfer SET amount = amount * 2"),
        ("ledger_transfer", "DELETE FROM ledger_transfer"),
    ],
)
def test_raw_update_or_delete_is_refused(prepaid: Account, table: str, statement: str) -> None:
    # given
    transfer = fund(prepaid, 500)
    before = list(Entry.objects.order_by("id").values_list("amount", "balance_after"))
    rows_before = _count(table)
    # when
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    # then
    assert list(Entry.objects.order_by("id").values_list("amount", "balance_after")) == before
    assert _count(table) == rows_before
    stored = Transfer.objects.get(id=transfer.id)
    assert (stored.amount, stored.reference) == (500, "")
