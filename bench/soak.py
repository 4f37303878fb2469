"""``make soak``: Tally under a steady, moderate mixed load for a long while, watched for drift.

    .venv/bin/python -m bench.soak                                  # 30 minutes
    .venv/bin/python -m bench.soak --minutes 3 --sample-seconds 15  # a short check
    .venv/bin/python -m bench.soak --rate 40                        # a fixed offered rate

Starts Tally production-like (bench/stack.py, as ``make bench`` does), warms it up with a
short closed-loop run that also measures what it can carry, then offers a fixed rate of
mixed flows (open loop, ``SOAK_LOAD_SHARE`` of that capacity unless ``--rate``): vendor
sales, balance and history reads, credit requests approved by an admin (the worker
credits them), offer activations through the provider simulator, guest and customer
orders (some cancelled), and checkouts paid from the wallet.

Every ``--sample-seconds`` it records the RSS of every web and Celery process and the
interval's throughput, latency percentiles and 5xx answers. At the end it checks the books
(``verify_ledger`` and the bench's per-flow checks) and compares the first samples with
the last: memory per process and latency p95. It prints a verdict line and a table,
writes ``bench/results/soak.json``, and exits 1 on any 5xx or unanswered request, a
schedule the load could not keep, an anomaly in the books, a process that exited, or drift
over the thresholds below.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import Client, Result, percentile, run_closed, run_open

SOAK_RESULTS_NAME = "soak.json"
DEFAULT_MINUTES = 30.0
DEFAULT_SAMPLE_SECONDS = 30.0
DEFAULT_WEB_WORKERS = 4
WARM_UP_SECONDS = 20.0
WARM_UP_CLIENTS = 32
# The soak offers half of what the warm-up measured: well below capacity, so that a slow
# drift shows up as a trend, not as a queue that the machine's noise (two cores shared with
# the load generator) would build anyway.
SOAK_LOAD_SHARE = 0.5
# Drift compares the mean of the first samples with the mean of the last: several samples,
# so one garbage collection or one noisy neighbour does not decide the verdict.
DRIFT_WINDOW_SAMPLES = 3
# A process's memory drifts when its last-window RSS is above its first-window RSS by more
# than 10 % AND by more than 16 MiB. The share catches a leak in a big process (a web
# worker holds ~135 MiB: 10 % over a 30-minute soak of ~10,000 requests per worker is about
# 1.5 KB kept per request); the floor absorbs warm-in (a web worker gains ~6 MiB over its
# first ~8 minutes under the soak, then stays flat) and keeps a small process (the gunicorn
# master, Celery's beat) from failing on the few MiB an allocator arena adds.
MEMORY_DRIFT_SHARE = 0.10
MEMORY_DRIFT_MIB = 16.0
# Latency drifts when the last window's p95 exceeds the first's by more than half AND by
# more than 10 ms: a growing table scan or lock queue shows as a rising ratio, while a few
# milliseconds of scheduler jitter on a shared machine at low latencies do not.
LATENCY_P95_DRIFT_RATIO = 1.5
LATENCY_P95_DRIFT_MS = 10.0
# The mix of flows the soak starts (shares of the offered rate).
MIX = {"vendor": 0.55, "activation": 0.10, "order": 0.15, "checkout": 0.20}
MIB = 1024 * 1024

# Customers are numbered apart from the benchmark's (their wallets are checked to the unit).
ACTIVATION_FIRST_CUSTOMER = 2_000
CHECKOUT_FIRST_CUSTOMER = 3_000
ORDER_FIRST_CUSTOMER = 4_000
SOAK_CUSTOMERS = 100
SOAK_VENDORS = 20


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- what one sample holds, and the verdict over all of them (pure) ------------------------


@dataclass
class Interval:
    """One sampling interval: the requests that completed in it, and RSS at its end."""

    end_s: float  # seconds since the soak's load started
    seconds: float
    requests: int
    throughput_rps: float
    latency_ms: dict[str, float | None]  # p50, p95, p99, max; None when no request answered
    server_errors: int  # answers 5xx
    no_answer: int  # requests never answered (refused, reset, timed out)
    dropped: int  # flows the open loop could not start on schedule
    rss_mib: dict[str, float]  # process label → resident set size
    # The machine's 1-minute load average at the sample: latency that rises with it is the
    # neighbours' doing (the figures are only worth judging on an otherwise quiet machine).
    load_avg: float | None = None


@dataclass
class ProcessDrift:
    process: str
    first_mib: float
    last_mib: float
    growth_mib: float
    growth_share: float
    drifted: bool


@dataclass
class LatencyDrift:
    first_p95_ms: float | None
    last_p95_ms: float | None
    ratio: float | None
    drifted: bool


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]
    window: int
    memory: list[ProcessDrift]
    latency: LatencyDrift
    exited: list[str]  # processes sampled first that were gone by the end
    server_errors: int
    no_answer: int
    dropped: int
    line: str = ""


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def drift_window(count: int) -> int:
    """How many samples each end's window holds: ``DRIFT_WINDOW_SAMPLES``, fewer when the
    run is too short for two windows that do not overlap."""
    return max(1, min(DRIFT_WINDOW_SAMPLES, count // 2))


def memory_drift(intervals: list[Interval], window: int) -> list[ProcessDrift]:
    """Per process seen in both windows: mean RSS of the first ``window`` samples against
    the last ``window``."""
    first, last = intervals[:window], intervals[-window:]
    names = sorted({n for i in first for n in i.rss_mib} & {n for i in last for n in i.rss_mib})
    drifts = []
    for name in names:
        before = _mean([i.rss_mib[name] for i in first if name in i.rss_mib]) or 0.0
        after = _mean([i.rss_mib[name] for i in last if name in i.rss_mib]) or 0.0
        growth = after - before
        share = growth / before if before else math.inf
        drifts.append(
            ProcessDrift(
                process=name,
                first_mib=round(before, 1),
                last_mib=round(after, 1),
                growth_mib=round(growth, 1),
                growth_share=round(share, 3),
                drifted=growth > MEMORY_DRIFT_MIB and share > MEMORY_DRIFT_SHARE,
            )
        )
    return drifts


def latency_drift(intervals: list[Interval], window: int) -> LatencyDrift:
    """Mean p95 of the first ``window`` samples against the last ``window``."""

    def p95s(chosen: list[Interval]) -> list[float]:
        return [v for i in chosen if (v := i.latency_ms.get("p95")) is not None]

    first = _mean(p95s(intervals[:window]))
    last = _mean(p95s(intervals[-window:]))
    if first is None or last is None or first <= 0:
        return LatencyDrift(first, last, None, drifted=False)
    ratio = last / first
    drifted = ratio > LATENCY_P95_DRIFT_RATIO and last - first > LATENCY_P95_DRIFT_MS
    return LatencyDrift(round(first, 2), round(last, 2), round(ratio, 3), drifted)


def soak_verdict(intervals: list[Interval], *, books_anomalies: list[str]) -> Verdict:
    """Pass or fail, with every reason: 5xx or unanswered requests, a schedule not kept, an
    anomaly in the books, a process gone, memory or latency drift, too few samples."""
    reasons: list[str] = []
    window = drift_window(len(intervals))
    errors = sum(i.server_errors for i in intervals)
    no_answer = sum(i.no_answer for i in intervals)
    dropped = sum(i.dropped for i in intervals)
    if len(intervals) < 2:
        reasons.append(f"{len(intervals)} sample(s): too few to judge drift")
    if errors:
        reasons.append(f"{errors} answers 5xx")
    if no_answer:
        reasons.append(f"{no_answer} requests unanswered")
    if dropped:
        reasons.append(f"{dropped} flows dropped (the open loop fell behind its schedule)")
    reasons += [f"books: {a}" for a in books_anomalies]
    exited = []
    if intervals:
        exited = sorted(set(intervals[0].rss_mib) - set(intervals[-1].rss_mib))
        if exited:
            reasons.append(f"processes exited during the soak: {', '.join(exited)}")
    memory = memory_drift(intervals, window) if intervals else []
    for drift in memory:
        if drift.drifted:
            reasons.append(
                f"memory drift in {drift.process}: {drift.first_mib} → {drift.last_mib} MiB "
                f"(+{drift.growth_share:.0%})"
            )
    latency = (
        latency_drift(intervals, window) if intervals else LatencyDrift(None, None, None, False)
    )
    if latency.drifted:
        reasons.append(
            f"latency drift: p95 {latency.first_p95_ms} → {latency.last_p95_ms} ms "
            f"(×{latency.ratio})"
        )
    verdict = Verdict(
        ok=not reasons,
        reasons=reasons,
        window=window,
        memory=memory,
        latency=latency,
        exited=exited,
        server_errors=errors,
        no_answer=no_answer,
        dropped=dropped,
    )
    verdict.line = verdict_line(verdict, intervals)
    return verdict


def verdict_line(verdict: Verdict, intervals: list[Interval]) -> str:
    minutes = intervals[-1].end_s / 60 if intervals else 0.0
    rate = _mean([i.throughput_rps for i in intervals]) or 0.0
    worst = max(verdict.memory, key=lambda d: d.growth_mib, default=None)
    memory = f"max RSS growth {worst.growth_mib:+.1f} MiB ({worst.process})" if worst else "no RSS"
    lat = verdict.latency
    latency = (
        f"p95 {lat.first_p95_ms:.1f} → {lat.last_p95_ms:.1f} ms (×{lat.ratio:.2f})"
        if lat.ratio is not None and lat.first_p95_ms is not None and lat.last_p95_ms is not None
        else "p95 not measured"
    )
    head = "SOAK PASS" if verdict.ok else "SOAK FAIL"
    line = (
        f"{head}: {minutes:.1f} min at {rate:.0f} req/s, {verdict.server_errors} 5xx, "
        f"{memory}, {latency}"
    )
    return line + ("" if verdict.ok else f" — {'; '.join(verdict.reasons)}")


def table_text(intervals: list[Interval], verdict: Verdict) -> str:
    """The samples (RSS summed per role) and the drift per process, as plain text."""

    def role_sum(interval: Interval, role: str) -> float:
        return sum(v for k, v in interval.rss_mib.items() if k.startswith(role))

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    lines = [
        f"{'t (s)':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'5xx':>4} "
        f"{'web MiB':>8} {'celery MiB':>10} {'load':>5}"
    ]
    for i in intervals:
        lines.append(
            f"{i.end_s:>7.0f} {i.throughput_rps:>7.1f} {ms(i.latency_ms.get('p50')):>7} "
            f"{ms(i.latency_ms.get('p95')):>7} {ms(i.latency_ms.get('p99')):>7} "
            f"{i.server_errors + i.no_answer:>4} {role_sum(i, 'web'):>8.1f} "
            f"{role_sum(i, 'celery'):>10.1f} "
            f"{'–' if i.load_avg is None else f'{i.load_avg:.1f}':>5}"
        )
    lines += [
        "",
        f"drift, mean of the first {verdict.window} samples vs the last {verdict.window} "
        f"(memory drifts over +{MEMORY_DRIFT_SHARE:.0%} and +{MEMORY_DRIFT_MIB:g} MiB; "
        f"latency over ×{LATENCY_P95_DRIFT_RATIO:g} and +{LATENCY_P95_DRIFT_MS:g} ms):",
        f"{'process':<22} {'first MiB':>9} {'last MiB':>9} {'growth':>8} {'':>7}",
    ]
    for d in verdict.memory:
        lines.append(
            f"{d.process:<22} {d.first_mib:>9.1f} {d.last_mib:>9.1f} {d.growth_mib:>+8.1f} "
            f"{'DRIFT' if d.drifted else 'flat':>7}"
        )
    lat = verdict.latency
    lines.append(
        f"{'latency p95 (ms)':<22} {ms(lat.first_p95_ms):>9} {ms(lat.last_p95_ms):>9} "
        f"{'' if lat.ratio is None else f'×{lat.ratio:.2f}':>8} "
        f"{'DRIFT' if lat.drifted else 'flat':>7}"
    )
    return "\n".join(lines)


# --- measuring the processes --------------------------------------------------------------


def _rss_bytes_proc(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _children_proc(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the ppid follows it.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def process_rss_mib(roots: dict[str, int]) -> dict[str, float]:
    """RSS of each root process (``<role> main``) and of all its descendants
    (``<role> <pid>``): psutil when installed, else /proc."""
    rss: dict[str, int | None] = {}
    try:
        import psutil
    except ImportError:
        for role, pid in roots.items():
            rss[f"{role} main"] = _rss_bytes_proc(pid)
            pending = _children_proc(pid)
            while pending:
                child = pending.pop()
                rss[f"{role} {child}"] = _rss_bytes_proc(child)
                pending += _children_proc(child)
    else:
        for role, pid in roots.items():
            try:
                root = psutil.Process(pid)
                members = [(f"{role} main", root)]
                members += [(f"{role} {p.pid}", p) for p in root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for name, process in members:
                try:
                    rss[name] = process.memory_info().rss
                except psutil.NoSuchProcess:
                    rss[name] = None
    return {name: round(value / MIB, 1) for name, value in rss.items() if value is not None}


# --- the load -----------------------------------------------------------------------------


@dataclass
class SoakFlow:
    """Picks one of the bench's flows per start, by ``MIX``; remembers the run it feeds so
    the sampler can read its samples as they come."""

    flows: dict[str, Callable[[Client], Any]]
    seed: int = 31
    result: Result | None = None
    started: dict[str, int] = field(default_factory=dict)
    finished: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.names = list(MIX)
        self.weights = [MIX[n] for n in self.names]

    async def __call__(self, client: Client) -> None:
        self.result = client.result
        (name,) = self.rng.choices(self.names, self.weights)
        self.started[name] = self.started.get(name, 0) + 1
        await self.flows[name](client)
        self.finished += 1


def interval_of(
    result: Result, first: int, *, end_s: float, seconds: float, dropped: int
) -> tuple[Interval, int]:
    """The requests completed since sample index ``first`` (samples are appended as they
    complete); returns the interval (RSS not yet filled in) and the next index."""
    chosen = result.samples[first:]
    latencies = sorted(s.latency for s in chosen if s.status != 0)
    latency: dict[str, float | None] = {"p50": None, "p95": None, "p99": None, "max": None}
    if latencies:
        latency = {
            "p50": round(1000 * percentile(latencies, 50), 2),
            "p95": round(1000 * percentile(latencies, 95), 2),
            "p99": round(1000 * percentile(latencies, 99), 2),
            "max": round(1000 * latencies[-1], 2),
        }
    interval = Interval(
        end_s=round(end_s, 1),
        seconds=round(seconds, 2),
        requests=len(chosen),
        throughput_rps=round(len(chosen) / seconds, 1) if seconds > 0 else 0.0,
        latency_ms=latency,
        server_errors=sum(1 for s in chosen if s.status >= 500),
        no_answer=sum(1 for s in chosen if s.status == 0),
        dropped=dropped,
        rss_mib={},
    )
    return interval, first + len(chosen)


async def soak_load(
    base_url: str,
    flow: SoakFlow,
    *,
    rate: float,
    duration: float,
    sample_seconds: float,
    roots: dict[str, int],
) -> tuple[Result, list[Interval]]:
    """Offer ``rate`` flows a second for ``duration`` seconds; sample every
    ``sample_seconds`` while the schedule runs (the drain after it is not sampled)."""
    flow.result = None
    load = asyncio.create_task(run_open(base_url, flow, rate=rate, duration=duration))
    t0 = time.perf_counter()
    intervals: list[Interval] = []
    seen, dropped_seen, last = 0, 0, t0
    for k in range(1, int(duration // sample_seconds) + 1):
        await asyncio.sleep(max(0.0, t0 + k * sample_seconds - time.perf_counter()))
        now = time.perf_counter()
        result = flow.result
        if result is None:
            continue
        interval, seen = interval_of(
            result, seen, end_s=now - t0, seconds=now - last, dropped=result.dropped - dropped_seen
        )
        dropped_seen, last = result.dropped, now
        interval.rss_mib = process_rss_mib(roots)
        interval.load_avg = round(os.getloadavg()[0], 2)
        intervals.append(interval)
        lat = interval.latency_ms
        log(
            f"t={interval.end_s:.0f}s {interval.throughput_rps:.1f} req/s p50 {lat['p50']} ms "
            f"p95 {lat['p95']} ms p99 {lat['p99']} ms 5xx {interval.server_errors} "
            f"unanswered {interval.no_answer} RSS web "
            f"{sum(v for n, v in interval.rss_mib.items() if n.startswith('web')):.0f} MiB "
            f"celery {sum(v for n, v in interval.rss_mib.items() if n.startswith('celery')):.0f}"
            f" MiB load {interval.load_avg}"
        )
    return await load, intervals


# --- the run ------------------------------------------------------------------------------


@dataclass
class Seeded:
    vendors: list[Any]
    admin_headers: dict[str, str]
    activation_customers: list[Any]
    offer_id: str
    order_catalog: Any
    order_customers: list[Any]
    checkout_catalog: Any
    checkout_customers: list[Any]


def seed() -> Seeded:
    from bench import scenarios as s

    return Seeded(
        vendors=s.vendors_seed(count=SOAK_VENDORS, credit_minor=100_000_000, label="soak"),
        admin_headers={"Authorization": f"Bearer {s.admin_token()}"},
        # A thousand offers each: more than a 30-minute soak buys.
        activation_customers=s.customers_seed(
            count=SOAK_CUSTOMERS,
            wallet_minor=s.OFFER_PRICE_MINOR * 1_000,
            first=ACTIVATION_FIRST_CUSTOMER,
        ),
        offer_id=s.offer_seed(),
        order_catalog=s.catalog_seed(variants=s.ORDER_VARIANTS, hot_stock=0, label="soak-orders"),
        order_customers=s.customers_seed(
            count=SOAK_CUSTOMERS, wallet_minor=0, first=ORDER_FIRST_CUSTOMER
        ),
        checkout_catalog=s.catalog_seed(
            variants=s.ORDER_VARIANTS, hot_stock=0, label="soak-checkout"
        ),
        checkout_customers=s.customers_seed(
            count=SOAK_CUSTOMERS,
            wallet_minor=s.CHECKOUT_WALLET_MINOR,
            first=CHECKOUT_FIRST_CUSTOMER,
        ),
    )


def books_check(seeded: Seeded, flows: dict[str, Any], result: Result, before: Any) -> Any:
    """The bench's checks over everything the warm-up and the soak did, after the worker
    drained: sales and credits against the vendors' balances, activations against wallets
    and postings, orders and stock, checkouts and their settlement, then verify_ledger."""
    from bench import scenarios as s

    report = s.ScenarioReport("soak", "The books after the soak.")
    vendor_ids = [v.id for v in seeded.vendors]
    vendor = flows["vendor"]
    expected_credit = before["vendors"].credited_requests_minor + vendor.approved_minor
    deadline = time.monotonic() + 120
    after = s.Books.read(vendor_ids)
    while after.credited_requests_minor < expected_credit and time.monotonic() < deadline:
        time.sleep(0.5)
        after = s.Books.read(vendor_ids)
    credited = after.credited_requests_minor - before["vendors"].credited_requests_minor
    report.check(
        "every approval credited once by the worker",
        credited == vendor.approved_minor,
        f"{credited} credited, {vendor.approved_minor} approved",
    )
    s.books_checks(report, before["vendors"], after, result, vendor.sold_minor)

    activation = flows["activation"]
    ids = [c.id for c in seeded.activation_customers]
    offers = s._offer_books(ids)
    finished = activation.final["succeeded"] + activation.final["failed"]
    report.check(
        "every purchase answered 202", not activation.refused, f"refused: {activation.refused}"
    )
    report.check(
        "every 202 ended succeeded or failed",
        activation.unfinished == 0 and finished == activation.accepted and offers["in_flight"] == 0,
        f"{finished} final of {activation.accepted}; {activation.unfinished} unfinished; "
        f"{offers['in_flight']} in flight in the database",
    )
    succeeded = offers["succeeded"] - before["offers"]["succeeded"]
    report.check(
        "succeeded activations in the database == succeeded answered",
        succeeded == activation.final["succeeded"],
        f"{succeeded} vs {activation.final['succeeded']}",
    )
    posts = offers["posts"] - before["offers"]["posts"]
    report.check("debits == succeeded activations", posts == succeeded, f"{posts}, {succeeded}")
    paid = offers["paid_minor"] - before["offers"]["paid_minor"]
    report.check(
        "wallets fell by exactly what succeeded activations cost",
        before["offers"]["balance"] - offers["balance"] == paid and offers["pending"] == 0,
        f"wallets {offers['balance'] - before['offers']['balance']:+}, paid {paid}, "
        f"still reserved {offers['pending']}",
    )

    order = flows["order"]
    catalog = seeded.order_catalog
    stock = s.OrderBooks.read(catalog.all_ids)
    s.stock_checks(report, catalog, stock)
    placed = [a for a in order.attempts if a.status == 201]
    report.check(
        "orders in the database == 201 answers",
        stock.orders == len(placed),
        f"{stock.orders} orders, {len(placed)} answers",
    )
    report.check(
        "every order answered 201",
        len(placed) == len(order.attempts),
        f"{len(order.attempts) - len(placed)} of {len(order.attempts)} not placed",
    )
    cancelled = sum(1 for c in order.cancels if c.status == 200)
    # Unpaid orders past their payment deadline are cancelled by the beat job too.
    report.check(
        "every cancel answered 200; every cancelled order released its stock",
        cancelled == len(order.cancels)
        and stock.cancelled >= cancelled
        and stock.cancelled_unreleased == 0,
        f"{cancelled} of {len(order.cancels)} cancels answered 200, {stock.cancelled} "
        f"cancelled in the database ({stock.cancelled_unreleased} unreleased)",
    )

    checkout = flows["checkout"]
    catalog = seeded.checkout_catalog
    books = s.CheckoutBooks.read(
        [c.id for c in seeded.checkout_customers], s.catalog_vendor_ids(catalog)
    )
    s.checkout_checks(report, catalog, [checkout], books, s.OrderBooks.read(catalog.all_ids))
    report.check(
        "no checkout refused (every wallet funded for the whole soak)",
        not any(a.payment_status == 422 for a in checkout.attempts),
        f"{sum(1 for a in checkout.attempts if a.payment_status == 422)} refused",
    )
    s.verify_ledger_check(report)
    return report


def books_before(seeded: Seeded) -> dict[str, Any]:
    from bench import scenarios as s

    return {
        "vendors": s.Books.read([v.id for v in seeded.vendors]),
        "offers": s._offer_books([c.id for c in seeded.activation_customers]),
    }


def flows_make(seeded: Seeded) -> dict[str, Any]:
    from bench import scenarios as s

    return {
        "vendor": s.MixedFlow(seeded.vendors, seeded.admin_headers),
        "activation": s.ActivationFlow(
            seeded.activation_customers, seeded.offer_id, attempts=10**9
        ),
        "order": s.OrderFlow(
            variants=seeded.order_catalog.variants,
            hot=None,
            customers=seeded.order_customers,
            seed=37,
        ),
        "checkout": s.CheckoutFlow(
            variants=seeded.checkout_catalog.variants,
            customers=seeded.checkout_customers,
            seed=41,
        ),
    }


def merged(*results: Result) -> Result:
    """One result holding the samples of several runs (for the books checks)."""
    return Result(
        mode="merged",
        concurrency=0,
        elapsed=sum(r.elapsed for r in results),
        samples=[s for r in results for s in r.samples],
        dropped=sum(r.dropped for r in results),
        failures=[f for r in results for f in r.failures],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES)
    parser.add_argument("--sample-seconds", type=float, default=DEFAULT_SAMPLE_SECONDS)
    parser.add_argument(
        "--rate", type=float, help=f"flows/s to offer (default {SOAK_LOAD_SHARE:.0%} of warm-up)"
    )
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument("--web-workers", type=int, default=DEFAULT_WEB_WORKERS)
    parser.add_argument("--no-write", action="store_true", help="print, write no report")
    args = parser.parse_args(argv)

    from bench.__main__ import git_commit
    from bench.loadgen import event_loop_policy_install
    from bench.stack import (
        BASE_DIR,
        BENCH_VAR_DIR,
        WORKER_CONCURRENCY,
        Processes,
        django_environment,
        provider_running,
        services_start,
        web_running,
        worker_running,
    )

    event_loop_policy_install()
    sys.path.insert(0, str(BASE_DIR))
    log("starting PostgreSQL and Redis")
    services = services_start()
    environment = django_environment(services, pool_max_size=4)
    # The customers sign in once, before the run: their access tokens must outlive it (the
    # default 15 minutes would turn every later purchase and order into a 401).
    environment["JWT_ACCESS_MINUTES"] = str(int(args.minutes) + 30)
    os.environ.update(environment)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    duration = args.minutes * 60
    results: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "setup": {
            "minutes": args.minutes,
            "sample_seconds": args.sample_seconds,
            "server": args.server,
            "web_workers": args.web_workers,
            "celery_worker_concurrency": WORKER_CONCURRENCY,
            "cpus": os.cpu_count(),
            "mix": MIX,
            "embedded_servers": services.embedded,
        },
        "thresholds": {
            "drift_window_samples": DRIFT_WINDOW_SAMPLES,
            "memory_drift_share": MEMORY_DRIFT_SHARE,
            "memory_drift_mib": MEMORY_DRIFT_MIB,
            "latency_p95_drift_ratio": LATENCY_P95_DRIFT_RATIO,
            "latency_p95_drift_ms": LATENCY_P95_DRIFT_MS,
            "load_share_of_warm_up": SOAK_LOAD_SHARE,
        },
        "errors": [],
    }
    processes = Processes(environment, BENCH_VAR_DIR / "logs")
    intervals: list[Interval] = []
    books_anomalies: list[str] = []
    try:
        with (
            provider_running(processes),
            worker_running(processes),
            web_running(processes, server=args.server, workers=args.web_workers) as base_url,
        ):
            log(f"Tally up at {base_url} ({args.server}, {args.web_workers} workers)")
            seeded = seed()
            connections.close_all()
            before = books_before(seeded)
            flows = flows_make(seeded)
            flow = SoakFlow(flows)
            log(f"warm-up: {WARM_UP_CLIENTS} clients for {WARM_UP_SECONDS:g}s (closed loop)")
            warm = asyncio.run(
                run_closed(base_url, flow, clients=WARM_UP_CLIENTS, duration=WARM_UP_SECONDS)
            )
            capacity = flow.finished / warm.elapsed if warm.elapsed else 0.0
            rate = args.rate or max(1.0, round(SOAK_LOAD_SHARE * capacity, 1))
            log(f"warm-up: {warm.summary()}; {capacity:.1f} flows/s; soak offers {rate:g}/s")
            results["warm_up"] = {
                "flows_per_s": round(capacity, 1),
                "requests_per_s": round(warm.throughput(), 1),
                "latency_ms": warm.latency_ms(),
                "server_errors": warm.server_errors(),
                "failures": warm.failures,
                "flows_started": flow.started,
            }
            flow.started = {}
            results["setup"]["rate_flows_per_s"] = rate
            roots = {"web": processes.children["web"].pid}
            roots["celery"] = processes.children["worker"].pid
            result, intervals = asyncio.run(
                soak_load(
                    base_url,
                    flow,
                    rate=rate,
                    duration=duration,
                    sample_seconds=args.sample_seconds,
                    roots=roots,
                )
            )
            log(f"soak: {result.summary()}")
            results["load"] = result.as_dict()
            results["load"]["flows_started"] = flow.started
            results["failures"] = result.failures
            if warm.server_errors():
                books_anomalies.append(f"warm-up: {warm.server_errors()} failed requests")
            log("checking the books")
            report = books_check(seeded, flows, merged(warm, result), before)
            results["checks"] = [asdict(c) for c in report.checks]
            books_anomalies += [f"{c.name} ({c.detail})" for c in report.anomalies]
            for check in report.checks:
                log(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    except Exception:
        results["errors"].append(traceback.format_exc())
        log(f"FAILED:\n{traceback.format_exc()}")
    finally:
        processes.stop_all()
        connections.close_all()

    verdict = soak_verdict(intervals, books_anomalies=books_anomalies)
    if results["errors"]:
        verdict.ok = False
        verdict.reasons.append("the run failed (see errors)")
        verdict.line = verdict_line(verdict, intervals)
    results["intervals"] = [asdict(i) for i in intervals]
    results["verdict"] = asdict(verdict)
    print(table_text(intervals, verdict), flush=True)
    print(verdict.line, flush=True)
    if not args.no_write:
        path = BASE_DIR / "bench" / "results" / SOAK_RESULTS_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"wrote {path.relative_to(BASE_DIR)}")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
