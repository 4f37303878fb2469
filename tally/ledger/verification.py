"""Ledger verification: every money rule re-checked from the raw rows, set-based.

Each check is one SQL statement that selects the rows breaking a rule; the report carries
how many broke it and a small sample. All checks run in one REPEATABLE READ, READ ONLY
transaction, so they judge a single consistent snapshot while transfers keep committing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tally.ledger.vocabulary import account_kinds, transfer_codes

SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    # A SELECT returning one row per violation (no trailing semicolon).
    sql: str
    # Optional cheaper SELECT returning one boolean, true only when the rule certainly
    # holds; ``sql`` then runs only to locate violations when it is false.
    fast_sql: str | None = None
    # Planner settings for ``sql`` only, e.g. to prefer one hash aggregate over millions of
    # index probes; restored afterwards.
    planner_settings: tuple[tuple[str, str], ...] = ()
    # Values for the ``%s`` placeholders of ``sql``, computed when the check runs.
    params: Callable[[], list[Any]] | None = None


def _vocabulary_params() -> list[Any]:
    kinds = account_kinds().values()
    return [
        [kind.value for kind in kinds if kind.owned],
        [kind.value for kind in kinds if not kind.owned],
        list(transfer_codes()),
    ]


@dataclass(frozen=True)
class CheckResult:
    name: str
    description: str
    ok: bool
    mismatches: int
    sample: list[dict[str, Any]]
    duration_seconds: float


@dataclass(frozen=True)
class VerificationReport:
    ok: bool
    checked_at: datetime
    duration_seconds: float
    counts: dict[str, int]
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.ok]


CHECKS: tuple[Check, ...] = (
    Check(
        name="account_balances",
        description=(
            "each account's balance equals the sum of its entries (system accounts: of its "
            "entries up to the rolled-up cut)"
        ),
        sql="""
            WITH sums AS (
                SELECT e.account_id,
                       sum(e.amount) AS total,
                       sum(e.amount) FILTER (WHERE e.id <= a.rolled_up_to_entry_id) AS rolled
                  FROM ledger_entry AS e
                  JOIN ledger_account AS a ON a.id = e.account_id
                 GROUP BY e.account_id
            ), expected AS (
                SELECT a.id, a.kind, a.owner_id, a.balance,
                       CASE WHEN a.owner_id IS NULL THEN coalesce(s.rolled, 0)
                            ELSE coalesce(s.total, 0) END AS entries_sum
                  FROM ledger_account AS a
                  LEFT JOIN sums AS s ON s.account_id = a.id
            )
            SELECT id AS account_id, kind, owner_id, balance AS stored_balance, entries_sum
              FROM expected
             WHERE balance <> entries_sum
        """,
    ),
    Check(
        name="pending_debits",
        description="each account's pending debits equal the sum of its open pending transfers",
        sql="""
            WITH open_pending AS (
                SELECT t.debit_account_id AS account_id, sum(t.amount) AS total
                  FROM ledger_transfer AS t
                 WHERE t.kind = 'pending'
                   AND NOT EXISTS (SELECT 1 FROM ledger_transfer AS r WHERE r.pending_id = t.id)
                 GROUP BY t.debit_account_id
            )
            SELECT a.id AS account_id, a.kind, a.owner_id,
                   a.pending_debits AS stored_pending_debits,
                   coalesce(o.total, 0) AS open_pending_sum
              FROM ledger_account AS a
              LEFT JOIN open_pending AS o ON o.account_id = a.id
             WHERE a.owner_id IS NOT NULL AND a.pending_debits <> coalesce(o.total, 0)
        """,
    ),
    Check(
        name="zero_sum",
        description="all entries sum to zero and all account balances sum to zero",
        sql="""
            SELECT entries_total, balances_total
              FROM (
                    SELECT (SELECT coalesce(sum(amount), 0) FROM ledger_entry) AS entries_total,
                           (SELECT coalesce(sum(balance), 0) FROM ledger_account)
                           + (SELECT coalesce(sum(later.total), 0)
                                FROM ledger_account AS a
                               CROSS JOIN LATERAL (
                                     SELECT coalesce(sum(e.amount), 0) AS total
                                       FROM ledger_entry AS e
                                      WHERE e.account_id = a.id
                                        AND e.id > a.rolled_up_to_entry_id
                                    ) AS later
                               WHERE a.owner_id IS NULL) AS balances_total
                   ) AS totals
             WHERE entries_total <> 0 OR balances_total <> 0
        """,
    ),
    Check(
        name="floored_accounts",
        description="no floored account has a negative available balance",
        sql="""
            SELECT id AS account_id, kind, owner_id, balance, pending_debits
              FROM ledger_account
             WHERE floored AND balance - pending_debits < 0
        """,
    ),
    Check(
        name="transfer_entries",
        description=(
            "every posting transfer has exactly its two entries (debit side -amount, credit "
            "side +amount); pending, void_pending and expire_pending transfers have none"
        ),
        sql="""
            WITH per_transfer AS (
                SELECT transfer_id,
                       count(*) AS entries,
                       count(*) FILTER (WHERE amount < 0) AS debits,
                       min(account_id) FILTER (WHERE amount < 0) AS debit_account_id,
                       min(amount) FILTER (WHERE amount < 0) AS debit_amount,
                       min(account_id) FILTER (WHERE amount > 0) AS credit_account_id,
                       min(amount) FILTER (WHERE amount > 0) AS credit_amount
                  FROM ledger_entry
                 GROUP BY transfer_id
            )
            SELECT coalesce(t.id, p.transfer_id) AS transfer_id, t.kind, t.amount,
                   coalesce(p.entries, 0) AS entries
              FROM ledger_transfer AS t
              FULL JOIN per_transfer AS p ON p.transfer_id = t.id
             WHERE CASE
                   WHEN t.id IS NULL THEN true  -- entries of a transfer that does not exist
                   WHEN t.kind IN ('immediate', 'post_pending') THEN
                        p.transfer_id IS NULL
                        OR p.entries <> 2 OR p.debits <> 1
                        OR p.debit_account_id <> t.debit_account_id
                        OR p.debit_amount <> -t.amount
                        OR p.credit_account_id <> t.credit_account_id
                        OR p.credit_amount <> t.amount
                   ELSE p.transfer_id IS NOT NULL
                   END
        """,
        # Every entry matches a side of a posting transfer; the unique (transfer, account)
        # constraint allows at most one entry per side; and there are exactly two entries
        # per posting transfer. Together: each has exactly its two. One hash join instead
        # of grouping millions of transfers.
        fast_sql="""
            SELECT (SELECT count(*) FROM ledger_entry)
                   = 2 * (SELECT count(*) FROM ledger_transfer
                        WHERE kind IN ('immediate', 'post_pending'))
               AND EXISTS (
                   SELECT 1 FROM pg_constraint
                    WHERE conname = 'ledger_entry_transfer_account_unique'
                      AND contype = 'u' AND convalidated
               )
               -- count(*), not NOT EXISTS: EXISTS plans a nested loop of 10M index probes;
               -- a count over everything gets a (parallel) hash join.
               AND (
                   SELECT count(*)
                     FROM ledger_entry AS e
                     LEFT JOIN ledger_transfer AS t ON t.id = e.transfer_id
                    WHERE t.id IS NULL OR NOT (
                          t.kind IN ('immediate', 'post_pending')
                          AND ((e.account_id = t.debit_account_id AND e.amount = -t.amount)
                               OR (e.account_id = t.credit_account_id AND e.amount = t.amount))
                    )
               ) = 0
        """,
        planner_settings=(("enable_indexscan", "off"), ("enable_bitmapscan", "off")),
    ),
    Check(
        name="running_balances",
        description=(
            "each owned account's entries chain: balance_after = previous balance_after + "
            "amount, never negative on a floored account; system entries carry none"
        ),
        sql="""
            SELECT account_id, entry_id, amount, balance_after, previous_balance_after
              FROM (
                    SELECT e.account_id, e.id AS entry_id, e.amount, e.balance_after,
                           a.owner_id, a.floored,
                           lead(e.balance_after) OVER (
                               PARTITION BY e.account_id ORDER BY e.id DESC
                           ) AS previous_balance_after,
                           row_number() OVER (
                               PARTITION BY e.account_id ORDER BY e.id DESC
                           ) AS newest_first
                      FROM ledger_entry AS e
                      JOIN ledger_account AS a ON a.id = e.account_id
                   ) AS chain
             WHERE CASE
                   WHEN owner_id IS NULL THEN balance_after IS NOT NULL
                   ELSE balance_after IS NULL
                        OR (floored AND balance_after < 0)
                        OR balance_after <> coalesce(previous_balance_after, 0) + amount
                   END
        """,
    ),
    Check(
        name="pending_resolutions",
        description=(
            "each post_pending, void_pending or expire_pending resolves a pending transfer between "
            "the same accounts; "
            "a post takes at most the pending amount, a void or expire releases all of it"
        ),
        sql="""
            SELECT r.id AS transfer_id, r.kind, r.amount, p.id AS pending_id,
                   p.kind AS pending_kind, p.amount AS pending_amount
              FROM ledger_transfer AS r
              JOIN ledger_transfer AS p ON p.id = r.pending_id
             WHERE p.kind <> 'pending'
                OR r.debit_account_id <> p.debit_account_id
                OR r.credit_account_id <> p.credit_account_id
                OR (r.kind = 'post_pending' AND r.amount > p.amount)
                OR (r.kind IN ('void_pending', 'expire_pending') AND r.amount <> p.amount)
        """,
    ),
    Check(
        name="registered_vocabulary",
        description=(
            "every account kind and transfer code in the books is registered by a feature, "
            "and owned kinds have an owner, system kinds none"
        ),
        sql="""
            SELECT 'account_kind' AS what, kind AS value, count(*) AS rows
              FROM ledger_account
             WHERE NOT ((owner_id IS NOT NULL AND kind = ANY(%s))
                        OR (owner_id IS NULL AND kind = ANY(%s)))
             GROUP BY kind
            UNION ALL
            SELECT 'transfer_code', code, n
              FROM (SELECT code, count(*) FROM ledger_transfer GROUP BY code) AS used(code, n)
             WHERE NOT (code = ANY(%s))
        """,
        params=_vocabulary_params,
    ),
)


_REGISTERED: list[Check] = []


def verification_check_register(check: Check) -> None:
    """Add a feature's own rule about its books (e.g. payments: every captured payment is
    settled in full) to ``verify_ledger``; call it from the app's ``ready``. The ledger runs
    it like its own checks, in the same snapshot."""
    if all(existing.name != check.name for existing in (*CHECKS, *_REGISTERED)):
        _REGISTERED.append(check)


def verification_checks() -> tuple[Check, ...]:
    """The ledger's own checks, then the features' registered ones."""
    return (*CHECKS, *_REGISTERED)


def ledger_verify(*, on_check: Callable[[CheckResult], None] | None = None) -> VerificationReport:
    """Run every check against one snapshot and return the report; never writes.

    ``on_check`` is called after each check (progress display). Opens its own read-only
    REPEATABLE READ transaction when called outside one; inside a caller's transaction it
    uses that transaction's snapshots. Locks nothing; enqueues nothing.
    """
    started = time.monotonic()
    checked_at = timezone.now()
    outermost = not connection.in_atomic_block
    results: list[CheckResult] = []
    with transaction.atomic(durable=outermost), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(
            "SELECT set_config('work_mem', %s, true)",
            [settings.LEDGER_VERIFY_WORK_MEM],
        )
        cursor.execute(
            "SELECT (SELECT count(*) FROM ledger_account), "
            "(SELECT count(*) FROM ledger_transfer), (SELECT count(*) FROM ledger_entry)"
        )
        row = cursor.fetchone()
        assert row is not None  # nosec B101  # type narrowing, not a check
        counts = {"accounts": int(row[0]), "transfers": int(row[1]), "entries": int(row[2])}
        for check in verification_checks():
            result = _run_check(cursor, check)
            results.append(result)
            if on_check is not None:
                on_check(result)
    return VerificationReport(
        ok=all(result.ok for result in results),
        checked_at=checked_at,
        duration_seconds=round(time.monotonic() - started, 3),
        counts=counts,
        checks=results,
    )


def _run_check(cursor: Any, check: Check) -> CheckResult:
    """Count the violations of one rule and sample a few; the fast path first, if any."""
    started = time.monotonic()
    mismatches, sample = 0, []
    holds = False
    if check.fast_sql is not None:
        cursor.execute(check.fast_sql)
        row = cursor.fetchone()
        holds = row is not None and row[0] is True
    if not holds:
        restore = []
        for name, value in check.planner_settings:
            cursor.execute(
                "SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value]
            )
            previous = cursor.fetchone()
            assert previous is not None  # nosec B101  # type narrowing, not a check
            restore.append((name, previous[0]))
        cursor.execute(
            f"WITH bad AS MATERIALIZED ({check.sql}) "  # noqa: S608  # nosec B608  # built from constants; values are parameters
            "SELECT (SELECT count(*) FROM bad), "
            "(SELECT coalesce(json_agg(sample), '[]'::json) "
            "   FROM (SELECT * FROM bad LIMIT %s) AS sample)",
            [*(check.params() if check.params else []), SAMPLE_SIZE],
        )
        found = cursor.fetchone()
        assert found is not None  # nosec B101  # type narrowing, not a check
        mismatches, sample = int(found[0]), list(found[1])
        for name, value in restore:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    return CheckResult(
        name=check.name,
        description=check.description,
        ok=mismatches == 0,
        mismatches=mismatches,
        sample=sample,
        duration_seconds=round(time.monotonic() - started, 3),
    )
