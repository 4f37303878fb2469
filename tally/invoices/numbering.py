"""Invoice numbers: sequential and gapless per year (``INV-2026-000001``, ``-000002``, …).

A sequence would not do: ``nextval`` is never rolled back, so a failed transaction would
leave a hole. Each year has one counter row instead, incremented by one statement in the
transaction that writes the invoice:

    INSERT INTO invoices_invoicecounter (year, last_number) VALUES (2026, 1)
    ON CONFLICT (year) DO UPDATE SET last_number = invoices_invoicecounter.last_number + 1
    RETURNING last_number

Once the year's row exists this is an ``UPDATE … RETURNING`` of that row (the first issuer
of a year inserts it; a concurrent first issuer waits and then updates it). The row stays
locked until the transaction ends, so concurrent issuers take numbers one after another,
and a rollback gives the number back with the invoice: committed invoices always hold
1, 2, 3, … with no gap and no repeat.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from tally.invoices.models import InvoiceCounter
from tally.platform.db import require_transaction

SEQUENCE_DIGITS = 6


def invoice_number_format(*, year: int, sequence: int) -> str:
    """``INV-2026-000001`` (the prefix is ``INVOICE_NUMBER_PREFIX``)."""
    return f"{settings.INVOICE_NUMBER_PREFIX}-{year}-{sequence:0{SEQUENCE_DIGITS}d}"


def invoice_sequence_next(*, year: int) -> int:
    """Take the next number of ``year`` in the caller's transaction (required).

    Locks: that year's counter row, until the caller's transaction ends.
    """
    require_transaction()
    table = connection.ops.quote_name(InvoiceCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last_number) VALUES (%s, 1) "  # noqa: S608  # nosec B608  # table and column names from the models; values are parameters
            f"ON CONFLICT (year) DO UPDATE SET last_number = {table}.last_number + 1 "
            "RETURNING last_number",
            [year],
        )
        row = cursor.fetchone()
    assert row is not None  # nosec B101  # type narrowing, not a check
    return int(row[0])
