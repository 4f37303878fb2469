"""The machine's limits, measured in the same run as the scenarios.

(a) Raw PostgreSQL: pgbench runs the writes one charge sale makes, as bare SQL on the
    bench database's real tables (with their indexes, constraints and triggers): register
    the number, the guarded balance UPDATE, the transfer, its two entries, the sale, in one
    transaction, over persistent connections with prepared statements. Once on one hot
    account, once spread over 100 accounts.
(b) The framework ceiling: ``GET /health/live`` (no database, no cache) through the same
    server, worker count and middleware stack, driven by the same load generator.

Every scenario figure is reported as a ratio to these, so a noisy machine moves both sides.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from bench.loadgen import Client, Result, run_closed
from bench.scenarios import SALE_AMOUNT_MINOR, vendor_credit_account_ids, vendors_seed
from bench.stack import Services

# The sale's writes, as one transaction (see tally/topups/services.py and
# tally/ledger/services.py for the statements the application sends).
SALE_SCRIPT = """
\\set acct random(:first_account, :last_account)
\\set phone random(0, 999)
BEGIN;
INSERT INTO topups_phonenumber (id, number, label, created_by_id, created_at)
     VALUES (gen_random_uuid(), '+1650253' || lpad(:phone::text, 4, '0'), '', NULL, now())
ON CONFLICT (number) DO NOTHING;
SELECT id AS phone_id FROM topups_phonenumber
 WHERE number = '+1650253' || lpad(:phone::text, 4, '0') FOR KEY SHARE \\gset
UPDATE ledger_account SET balance = balance - %(amount)d
 WHERE id = :acct AND owner_id IS NOT NULL
   AND (NOT floored OR balance - %(amount)d - pending_debits >= 0)
RETURNING balance, owner_id AS vendor_id \\gset
SELECT pg_advisory_xact_lock_shared(%(lock_class)d, %(settlement_key)d);
INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id, amount,
                             reference, metadata, idempotency_scope, created_at)
     VALUES (gen_random_uuid(), 'immediate', 'charge_sale', :acct, %(settlement)d, %(amount)d,
             'pgbench', '{}', '', now())
  RETURNING id AS transfer_id \\gset
INSERT INTO ledger_entry (account_id, transfer_id, amount, balance_after, created_at)
     VALUES (:acct, :transfer_id, -%(amount)d, :balance, now()),
            (%(settlement)d, :transfer_id, %(amount)d, NULL, now());
INSERT INTO topups_chargesale (id, vendor_id, phone_number_id, amount, transfer_id, created_at)
     VALUES (gen_random_uuid(), :vendor_id, :phone_id, %(amount)d, :transfer_id, now());
COMMIT;
"""


def pgbench_path() -> str:
    """The embedded server's pgbench (same version as the server) or the one on PATH."""
    try:
        import pgserver

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pgbench")
    if found is None:
        raise RuntimeError("pgbench not found: install PostgreSQL's client tools")
    return found


def _accounts(count: int, label: str, sales: int) -> tuple[int, int]:
    """Seed ``count`` vendors with credit for ``sales`` sales each; their (first, last)
    credit account ids, which are contiguous because they were created one after another."""
    vendors = vendors_seed(count=count, credit_minor=sales * SALE_AMOUNT_MINOR, label=label)
    ids = vendor_credit_account_ids([v.id for v in vendors])
    if ids[-1] - ids[0] + 1 != count:
        raise RuntimeError(f"pgbench accounts are not contiguous: {ids[:3]}…")
    return ids[0], ids[-1]


def pgbench_sales(
    services: Services, *, clients: int, duration: float, accounts: int, label: str
) -> dict[str, float]:
    """Run the sale's writes with pgbench; return its TPS and latency."""
    from django.db import transaction

    from tally.ledger import services as ledger
    from tally.ledger.services import SYSTEM_ACCOUNT_LOCK_CLASS, system_lock_key
    from tally.topups.ledger_vocabulary import AIRTIME_SETTLEMENT

    with transaction.atomic():
        settlement = ledger.account_system(kind=AIRTIME_SETTLEMENT)
    # Enough credit that no transaction is refused during the run.
    first, last = _accounts(accounts, label, sales=1_000_000)
    script = SALE_SCRIPT % {
        "amount": SALE_AMOUNT_MINOR,
        "settlement": settlement.id,
        "settlement_key": system_lock_key(settlement.id),
        "lock_class": SYSTEM_ACCOUNT_LOCK_CLASS,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        argv = [
            pgbench_path(),
            *services.libpq_args(),
            "-n",
            "-M",
            "prepared",
            "-f",
            handle.name,
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(max(1, round(duration))),
            "-D",
            f"first_account={first}",
            "-D",
            f"last_account={last}",
            "-r",
            # The bench database (BENCH_DATABASE), whatever it is named.
            urlsplit(services.database_url).path.lstrip("/"),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    tps = re.search(r"tps = ([\d.]+)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if tps is None:
        raise RuntimeError(f"pgbench printed no tps:\n{done.stdout}")
    return {
        "tps": round(float(tps.group(1)), 1),
        "latency_avg_ms": round(float(latency.group(1)), 2) if latency else float("nan"),
        "failed": int(failed.group(1)) if failed else 0,
        "clients": clients,
        "accounts": accounts,
    }


def framework_ceiling(base_url: str, *, clients: int, duration: float) -> Result:
    """``GET /health/live`` through the full stack: the most the web tier can answer."""

    async def flow(client: Client) -> None:
        await client.call("GET", "/health/live", tag="live")

    return asyncio.run(run_closed(base_url, flow, clients=clients, duration=duration))
