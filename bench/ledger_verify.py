"""Benchmark: ``verify_ledger`` over a generated ledger of 10 million entries.

Creates a throwaway database next to the given server, migrates it, generates a
consistent ledger with set-based SQL (generate_series, no Python loop over rows), then
times ``ledger_verify()`` and prints the figure. The database is dropped afterwards unless
``--keep`` is given.

    .venv/bin/python bench/ledger_verify.py                      # 10M entries
    .venv/bin/python bench/ledger_verify.py --entries 1000000    # quicker
    .venv/bin/python bench/ledger_verify.py --server postgres://postgres@127.0.0.1:5432

The generated ledger: vendors funded from issuance in blocks of one credit and nine sales
to the airtime settlement account, every vendor with one open and one voided pending
transfer, and the settlement account rolled up to half its entries, so every check and
both balance paths (live rows, snapshot + later entries) do real work.

Loading shortcut, which changes nothing verify reads: foreign-key and append-only
triggers are skipped while loading (``session_replication_role = replica``; the rows are
consistent by construction); then VACUUM ANALYZE, as autovacuum would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "tally_bench") + "_ledger"
BLOCK = 10  # transfers per vendor block: one credit, then nine sales
FUNDING_MINOR = 10_000


def _database_url(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _timed(label: str, cursor: psycopg.Cursor, sql: str, params: dict[str, int]) -> None:
    started = time.monotonic()
    cursor.execute(sql, params)
    print(f"  {label}: {time.monotonic() - started:.1f}s", flush=True)


GENERATE = [
    (
        "users",
        """
        INSERT INTO identity_user (id, password, is_superuser, email, role, full_name,
                                   is_active, is_staff, date_joined)
        SELECT md5('user' || v)::uuid, '!', false, 'bench-vendor-' || v || '@example.com',
               'vendor', '', true, false, now()
          FROM generate_series(1, %(vendors)s) AS v
        """,
    ),
    (
        "accounts",
        """
        INSERT INTO ledger_account (id, owner_id, kind, currency, floored, balance,
                                    pending_debits, rolled_up_to_entry_id, created_at)
        SELECT 1, NULL::uuid, 'issuance', 'USD', false, 0, 0, 0, now()
        UNION ALL
        SELECT 2, NULL, 'airtime_settlement', 'USD', false, 0, 0, 0, now()
        UNION ALL
        SELECT 2 + v, md5('user' || v)::uuid, 'vendor_credit', 'USD', true, 0, 0, 0, now()
          FROM generate_series(1, %(vendors)s) AS v
        """,
    ),
    (
        "immediate transfers",
        """
        INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id,
                                     amount, reference, metadata, idempotency_scope,
                                     created_at)
        SELECT md5('transfer' || n)::uuid, 'immediate',
               CASE WHEN x.funding THEN 'credit_increase' ELSE 'charge_sale' END,
               CASE WHEN x.funding THEN 1 ELSE 2 + x.vendor END,
               CASE WHEN x.funding THEN 2 + x.vendor ELSE 2 END,
               x.amount, 'bench-' || n, '{}'::jsonb, '',
               timestamptz '2030-01-01' + n * interval '1 millisecond'
          FROM generate_series(1, %(transfers)s) AS n
         CROSS JOIN LATERAL (
               SELECT (n - 1) %% %(block)s = 0 AS funding,
                      ((n - 1) / %(block)s) %% %(vendors)s + 1 AS vendor,
                      CASE WHEN (n - 1) %% %(block)s = 0 THEN %(funding)s
                           ELSE 1 + n %% 7 END AS amount
             ) AS x
        """,
    ),
    (
        "entries",
        """
        INSERT INTO ledger_entry (id, account_id, transfer_id, amount, balance_after,
                                  created_at)
        SELECT e.id, e.account_id, e.transfer_id, e.amount,
               CASE WHEN e.account_id > 2 THEN
                    sum(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id)
               END,
               e.created_at
          FROM (
                -- The same arithmetic as the transfers above, so no join is needed.
                SELECT 2 * n - 1 + side AS id,
                       CASE WHEN x.funding = (side = 0) THEN CASE WHEN x.funding THEN 1 ELSE 2 END
                            ELSE 2 + x.vendor END AS account_id,
                       md5('transfer' || n)::uuid AS transfer_id,
                       CASE WHEN side = 0 THEN -x.amount ELSE x.amount END AS amount,
                       timestamptz '2030-01-01' + n * interval '1 millisecond' AS created_at
                  FROM generate_series(1, %(transfers)s) AS n
                 CROSS JOIN LATERAL (
                       SELECT (n - 1) %% %(block)s = 0 AS funding,
                              ((n - 1) / %(block)s) %% %(vendors)s + 1 AS vendor,
                              CASE WHEN (n - 1) %% %(block)s = 0 THEN %(funding)s
                                   ELSE 1 + n %% 7 END AS amount
                     ) AS x
                 CROSS JOIN generate_series(0, 1) AS side
               ) AS e
        """,
    ),
    (
        "pending transfers",
        """
        INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id,
                                     amount, reference, metadata, idempotency_scope,
                                     expires_at, pending_id, created_at)
        SELECT md5('pending' || p.v || '-' || p.i)::uuid, 'pending', 'charge_sale',
               2 + p.v, 2, 5, 'bench-pending', '{}'::jsonb, '',
               timestamptz '2031-01-01', NULL, timestamptz '2030-06-01'
          FROM generate_series(1, %(vendors)s) AS v
         CROSS JOIN LATERAL (VALUES (v, 1), (v, 2)) AS p(v, i)
        UNION ALL
        SELECT md5('void' || v)::uuid, 'void_pending', 'charge_sale', 2 + v, 2, 5,
               'bench-pending', '{}'::jsonb, '', NULL,
               md5('pending' || v || '-2')::uuid, timestamptz '2030-06-02'
          FROM generate_series(1, %(vendors)s) AS v
        """,
    ),
    (
        "balances",
        """
        UPDATE ledger_account AS a
           SET balance = s.total, pending_debits = 5
          FROM (SELECT account_id, sum(amount) AS total FROM ledger_entry GROUP BY account_id) s
         WHERE a.id = s.account_id AND a.owner_id IS NOT NULL
        """,
    ),
    (
        "roll-ups",
        """
        UPDATE ledger_account AS a
           SET balance = coalesce(s.total, 0), rolled_up_to_entry_id = s.cut,
               rolled_up_at = now()
          FROM (SELECT x.id AS account_id, x.cut,
                       (SELECT sum(e.amount) FROM ledger_entry AS e
                         WHERE e.account_id = x.id AND e.id <= x.cut) AS total
                  FROM (SELECT id, %(transfers)s AS cut FROM ledger_account
                         WHERE owner_id IS NULL) AS x) AS s
         WHERE a.id = s.account_id
        """,
    ),
    (
        "sequences",
        """
        SELECT setval(pg_get_serial_sequence('ledger_entry', 'id'), 2 * %(transfers)s),
               setval(pg_get_serial_sequence('ledger_account', 'id'), 2 + %(vendors)s)
        """,
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--vendors", type=int, default=10_000)
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server to create the throwaway database on",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json-out", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    transfers = args.entries // 2
    params = {
        "transfers": transfers,
        "vendors": args.vendors,
        "block": BLOCK,
        "funding": FUNDING_MINOR,
    }
    admin_url = _database_url(args.server, "postgres")
    bench_url = _database_url(args.server, BENCH_DATABASE)

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
        admin.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    try:
        os.environ["DATABASE_URL"] = bench_url
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.django.test"
        sys.path.insert(0, str(BASE_DIR))
        import django

        django.setup()
        from django.core.management import call_command

        from tally.ledger.management.commands.verify_ledger import report_render_text
        from tally.ledger.verification import ledger_verify

        call_command("migrate", verbosity=0)
        print(f"Generating {2 * transfers:,} entries for {args.vendors:,} vendors", flush=True)
        started = time.monotonic()
        with psycopg.connect(bench_url, autocommit=True) as load, load.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute("SET work_mem = '512MB'")
            for label, sql in GENERATE:
                _timed(label, cursor, sql, params)
            cursor.execute("SET session_replication_role = DEFAULT")
            _timed("vacuum analyze", cursor, "VACUUM ANALYZE", {})
        generate_s = time.monotonic() - started
        print(f"Generated in {generate_s:.0f}s", flush=True)

        from tally.ledger.verification import verification_checks
        from tally.platform.progress import progress_run

        timings = []
        for run in (1, 2):
            started = time.monotonic()
            with progress_run(
                total=len(verification_checks()),
                description=f"verify run {run}",
                unit="check",
                interval_seconds=5,
            ) as progress:
                report = ledger_verify(on_check=lambda result: progress.advance(note=result.name))
            timings.append(time.monotonic() - started)
            print(f"verify run {run}: {timings[-1]:.1f}s", flush=True)
        print(report_render_text(report))
        print(
            f"RESULT: verify_ledger checked {report.counts['entries']:,} entries, "
            f"{report.counts['transfers']:,} transfers, {report.counts['accounts']:,} accounts "
            f"in {timings[0]:.1f}s (second run {timings[1]:.1f}s); ok={report.ok}"
        )
        if args.json_out:
            args.json_out.write_text(
                json.dumps(
                    {
                        "entries": report.counts["entries"],
                        "verify_s": round(timings[0], 1),
                        "second_run_s": round(timings[1], 1),
                        "generate_s": round(generate_s, 1),
                        "ok": report.ok,
                    }
                )
            )
        from django.db import connections

        connections.close_all()
        return 0 if report.ok else 1
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
