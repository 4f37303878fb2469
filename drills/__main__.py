"""``make drills``: fault drills against a real Tally under load.

    .venv/bin/python -m drills                 # every drill, full length (about 30 minutes)
    .venv/bin/python -m drills --short         # every drill, short (CI)
    .venv/bin/python -m drills web_kill redis_stop   # some

Each drill seeds its own vendors, customers, offer and catalog, runs the mixed load of
drills/workload.py, injects one fault while it runs, recovers, waits until every job has
finished, then checks the books (drills/books.py) and prints one verdict line:

    drill web_kill: PASS requests=1843 successes=1790 clean_failures=12 5xx=0 anomalies=0 ...

Exit status 1 when any drill found an anomaly (a 5xx other than a clean 503, a check of the
books that failed, a job that never finished). docs/reliability.md says what each proves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_PATH = BASE_DIR / "drills" / "results" / "latest.json"
SHORT_RESULTS_PATH = BASE_DIR / "drills" / "results" / "short.json"
CLIENTS = 12
SEEDED_CREDIT_MINOR = 10_000_000
VENDORS = 4
CUSTOMERS = 30
# After the load, how long a buyer waits for the gateway's page (the worker opens it, behind
# whatever backlog the drill left); a checkout still without one then is an anomaly.
CARD_PAGE_WAIT_SECONDS = 600.0


def log(message: str) -> None:
    print(f"[drills {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Timing:
    """When the fault strikes and how long the load runs, in seconds."""

    load: float
    fault_at: float
    outage: float
    repeats: int


SHORT = Timing(load=14.0, fault_at=4.0, outage=3.0, repeats=1)
FULL = Timing(load=60.0, fault_at=8.0, outage=6.0, repeats=3)


class Drill:
    """One fault, injected while the load runs. Subclasses say how."""

    name = ""
    summary = ""
    # Pay card checkouts during the load (False: the worker is held back, pay afterwards).
    card_inline = True

    def __init__(self, stack: Any, timing: Timing) -> None:
        self.stack = stack
        self.timing = timing
        self.notes: list[str] = []

    def before(self) -> None:
        """Before the load starts."""

    async def strike(self) -> None:
        """During the load: break something, then mend it."""

    def after(self, load: Any) -> None:
        """After the load stopped, before waiting for the jobs."""

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class WebKill(Drill):
    name = "web_kill"
    summary = "kill -9 a gunicorn worker mid-sales (the master starts another)"

    async def strike(self) -> None:
        for _ in range(self.timing.repeats):
            await asyncio.to_thread(self.stack.web_worker_kill)
            await self.pause(self.timing.outage)


class PostgresRestart(Drill):
    name = "postgres_restart"
    summary = "stop PostgreSQL mid-sales (fast shutdown), start it again; Tally keeps running"

    async def strike(self) -> None:
        for _ in range(self.timing.repeats):
            await asyncio.to_thread(self.stack.postgres_stop)
            await self.pause(self.timing.outage)
            await asyncio.to_thread(self.stack.postgres_start)
            await self.pause(self.timing.outage)


class RedisStop(Drill):
    name = "redis_stop"
    summary = "stop Redis mid-sales and mid-approvals (cache, rate limits, broker), start it again"

    async def strike(self) -> None:
        for _ in range(self.timing.repeats):
            await asyncio.to_thread(self.stack.redis_stop)
            await self.pause(self.timing.outage)
            await asyncio.to_thread(self.stack.redis_start)
            await self.pause(self.timing.outage)


class WorkerKill(Drill):
    name = "worker_kill"
    summary = (
        "kill -9 the Celery worker (and beat) mid-approvals, customer credits, activations, "
        "payments and invoices; start it again"
    )

    async def strike(self) -> None:
        for _ in range(self.timing.repeats):
            await asyncio.to_thread(self.stack.worker_kill)
            await self.pause(self.timing.outage)
            await asyncio.to_thread(self.stack.worker_start)
            await self.pause(self.timing.outage)


class DuplicateDelivery(Drill):
    name = "duplicate_delivery"
    summary = (
        "every queued job delivered twice (the broker's queue doubled while the worker was "
        "down) and every payment IPN delivered twice"
    )
    card_inline = False

    def before(self) -> None:
        self.stack.worker_stop()

    def after(self, load: Any) -> None:
        redis = self.stack.redis()
        from drills.stack import QUEUE

        messages = redis.lrange(QUEUE, 0, -1)
        if messages:
            redis.rpush(QUEUE, *messages)
        self.notes.append(f"{len(messages)} queued jobs doubled")
        self.stack.worker_start()


class PublishCrash(Drill):
    name = "publish_crash"
    summary = (
        "every job lost between commit and publish (the broker's queue emptied while the "
        "worker was down): the outbox sweep publishes them again"
    )
    card_inline = False

    def before(self) -> None:
        self.stack.worker_stop()

    def after(self, load: Any) -> None:
        redis = self.stack.redis()
        from drills.stack import QUEUE

        lost = redis.llen(QUEUE)
        redis.delete(QUEUE)
        self.notes.append(f"{lost} published jobs lost")
        self.stack.worker_start()


DRILLS: dict[str, type[Drill]] = {
    d.name: d
    for d in (WebKill, PostgresRestart, RedisStop, WorkerKill, DuplicateDelivery, PublishCrash)
}


def world_seed(index: int) -> Any:
    from bench.scenarios import (
        OFFER_PRICE_MINOR,
        admin_token,
        catalog_seed,
        customers_seed,
        offer_seed,
        vendors_seed,
    )
    from drills.workload import World

    vendors = vendors_seed(count=VENDORS, credit_minor=SEEDED_CREDIT_MINOR, label=f"drill{index}")
    customers = customers_seed(
        count=CUSTOMERS, wallet_minor=OFFER_PRICE_MINOR * 200, first=5_000 + 100 * index
    )
    catalog = catalog_seed(variants=10, hot_stock=0, label=f"drill{index}")
    return World(
        vendors=vendors,
        customers=customers,
        admin_headers={"Authorization": f"Bearer {admin_token()}"},
        offer_id=offer_seed(),
        variants=catalog.variants,
    )


def drill_run(drill: Drill, index: int) -> dict[str, Any]:
    from django.db import connections

    from drills import books
    from drills.workload import RETRY_GRACE_SECONDS, Load

    timing = drill.timing
    connections.close_all()
    world = world_seed(index)
    connections.close_all()
    load = Load(drill.stack.base_url, world, seed=index)
    load.card_inline = drill.card_inline
    drill.before()

    async def run() -> None:
        async def stopper() -> None:
            await asyncio.sleep(timing.fault_at)
            await drill.strike()
            remaining = timing.load - (time.monotonic() - started)
            if remaining > 0:
                await asyncio.sleep(remaining)
            load.grace_deadline = time.monotonic() + RETRY_GRACE_SECONDS
            load.stop.set()

        await asyncio.gather(load.run(CLIENTS), stopper())

    started = time.monotonic()
    asyncio.run(run())
    connections.close_all()  # PostgreSQL may have restarted under this process too
    drill.after(load)
    customers = {c.id: c for c in world.customers}
    paid_late = asyncio.run(load.card_pay_left(customers, wait=CARD_PAGE_WAIT_SECONDS))
    if paid_late:
        drill.notes.append(f"{paid_late} card checkouts paid after the load")
    if drill.name == "duplicate_delivery":
        delivered, refused = asyncio.run(load.ipn_again())
        drill.notes.append(f"{delivered} IPNs delivered again ({refused} not answered 200)")
    quiet = books.wait_quiet(world, load)
    verdict = books.Verdict()
    verdict.check("every job finished", quiet >= 0, f"after {quiet:.0f}s" if quiet >= 0 else "")
    books.books_check(world, load, verdict, seeded_credit=SEEDED_CREDIT_MINOR * VENDORS)
    counts = load.counts
    successes = sum(n for status, n in counts.statuses.items() if 200 <= status < 300)
    refused_4xx = sum(n for status, n in counts.statuses.items() if 400 <= status < 500)
    clean = counts.clean_503 + counts.dropped
    verdict.check("no 5xx but clean 503s", counts.server_errors == 0, "; ".join(counts.broken[:3]))
    anomalies = verdict.anomalies
    line = (
        f"drill {drill.name}: {'PASS' if not anomalies else 'FAIL'} "
        f"requests={counts.requests} successes={successes} clean_failures={clean} "
        f"(503 problem+json {counts.clean_503}, dropped {counts.dropped}) "
        f"refused_4xx={refused_4xx} 5xx={counts.server_errors} anomalies={len(anomalies)} "
        f"recovered_in={quiet:.0f}s"
    )
    return {
        "drill": drill.name,
        "summary": drill.summary,
        "verdict": line,
        "ok": not anomalies,
        "requests": counts.requests,
        "successes": successes,
        "clean_failures": clean,
        "clean_503": counts.clean_503,
        "dropped": counts.dropped,
        "refused_4xx": refused_4xx,
        "server_errors": counts.server_errors,
        "anomalies": [f"{c.name}: {c.detail}" for c in anomalies],
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in verdict.checks],
        "operations": {
            "sales": len(load.ops.sales),
            "approvals": len(load.ops.approvals),
            "customer_credits": len(load.ops.customer_credits),
            "activations": len(load.ops.activations),
            "wallet_checkouts": len(load.ops.wallet_orders),
            "card_checkouts_paid": len(load.ops.card_paid),
            "refused": dict(load.ops.refused),
        },
        "faults": list(drill.stack.faults),
        "notes": drill.notes,
        "recovered_in_s": round(quiet, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"drills to run (default all): {list(DRILLS)}")
    parser.add_argument("--short", action="store_true", help="short drills (CI)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(DRILLS)
    if unknown:
        parser.error(f"unknown drills: {sorted(unknown)}")
    names = args.names or list(DRILLS)
    timing = SHORT if args.short else FULL
    sys.path.insert(0, str(BASE_DIR))
    from bench.loadgen import event_loop_policy_install
    from drills.stack import stack_running

    event_loop_policy_install()
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    with stack_running() as stack:
        log(f"Tally up at {stack.base_url}")
        for index, name in enumerate(names):
            drill = DRILLS[name](stack, timing)
            stack.faults.clear()
            log(f"{name}: {drill.summary}")
            try:
                result = drill_run(drill, index)
            except Exception:
                log(f"{name} crashed:\n{traceback.format_exc()}")
                result = {"drill": name, "ok": False, "verdict": f"drill {name}: ERROR"}
            results.append(result)
            print(result["verdict"], flush=True)
            for anomaly in result.get("anomalies", []):
                log(f"  ANOMALY {anomaly}")
            _ensure_running(stack)
    path = SHORT_RESULTS_PATH if args.short else RESULTS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "short": args.short,
                "elapsed_s": round(time.monotonic() - started, 1),
                "drills": results,
            },
            indent=2,
        )
        + "\n"
    )
    failed = [r["drill"] for r in results if not r["ok"]]
    print(
        f"drills: {len(results) - len(failed)} passed, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


def _ensure_running(stack: Any) -> None:
    """A drill that crashed half-way may leave a part down: bring every part back."""
    ensure: list[Callable[[], None]] = []
    if not stack.processes.alive("worker"):
        ensure.append(stack.worker_start)
    for start in ensure:
        start()


if __name__ == "__main__":
    sys.exit(main())
