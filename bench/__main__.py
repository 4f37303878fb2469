"""``make bench``: Tally against this machine's own limits, in one run.

    .venv/bin/python -m bench            # the full run (about 15 minutes)
    .venv/bin/python -m bench --quick    # a one-minute smoke run of every scenario

Starts Tally production-like (bench/stack.py), measures the machine's limits
(bench/pglimits.py) and a bare Django app's (bench/bare/), runs every scenario
(bench/scenarios.py) with the books checked after each, then writes
``bench/results/latest.json`` and the results section of ``docs/benchmarks.md`` (a quick
run writes ``bench/results/quick.json`` only). Exits 1 if any scenario found an anomaly or
a run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import report as report_writer
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

if TYPE_CHECKING:
    from bench.scenarios import Plan

RESULTS_PATH = BASE_DIR / "bench" / "results" / "latest.json"
# A quick run is a smoke test: its figures never replace the full run's report.
QUICK_RESULTS_PATH = BASE_DIR / "bench" / "results" / "quick.json"
DOC_PATH = BASE_DIR / "docs" / "benchmarks.md"
DEFAULT_SERVER = "gunicorn"
DEFAULT_WEB_WORKERS = 4


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def verify_scenario(server_url: str, entries: int) -> dict[str, Any]:
    """``verify_ledger`` over a generated ledger (bench/ledger_verify.py), in its own process
    and its own throwaway database."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(BASE_DIR / "bench" / "ledger_verify.py"),
            "--server",
            server_url,
            "--entries",
            str(entries),
            "--json-out",
            str(out),
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] = json.loads(out.read_text()) if out.stat().st_size else {}
    out.unlink()
    result["total_s"] = round(time.monotonic() - started, 1)
    result["returncode"] = done.returncode
    if done.returncode != 0:
        result["output"] = (done.stdout + done.stderr)[-3000:]
    return result


# Each bare reference is measured right before the Tally scenario it is compared with, so
# the two sides of a ratio share the machine's moment (its neighbours' load included).
BARE_BEFORE = {
    "ceiling": "bare_ping",
    "hot": "bare_sale_hot",
    "spread": "bare_sale_spread",
    "balance": "bare_read",
    "latency": "bare_sale_single",
}


class BareReferences:
    """The bare Django app (bench/bare/), up beside Tally's web for the whole run; its
    figures go under ``limits``. A failure is recorded as an error of the run, never stops
    Tally's scenarios."""

    def __init__(
        self, results: dict[str, Any], plan: Plan, database_url: str, names: list[str]
    ) -> None:
        self.results = results
        self.plan = plan
        self.database_url = database_url
        self.names = names
        self.url: str | None = None

    def start(
        self, stack: contextlib.ExitStack, processes: Processes, args: argparse.Namespace
    ) -> None:
        from bench.bare import references

        try:
            self.url = stack.enter_context(
                references.bare_running(
                    processes,
                    server=args.server,
                    workers=args.web_workers,
                    database_url=self.database_url,
                )
            )
            log(f"bare reference app up at {self.url}")
            self.record("bare_warm_up", references.prepare(self.url, self.plan, self.database_url))
        except Exception:
            self.url = None
            self.results["errors"].append(f"bare: {traceback.format_exc()}")
            log(f"bare reference app FAILED:\n{traceback.format_exc()}")

    def measure(self, name: str | None) -> None:
        from bench.bare import references

        if self.url is None or name not in self.names:
            return
        log(f"reference {name}")
        try:
            figures = references.MEASURES[name](self.url, self.plan, self.database_url)
        except Exception:
            self.results["errors"].append(f"{name}: {traceback.format_exc()}")
            log(f"reference {name} FAILED:\n{traceback.format_exc()}")
            return
        self.record(name, figures)

    def record(self, name: str, figures: dict[str, Any]) -> None:
        self.results["limits"][name] = figures
        shown = {k: v for k, v in figures.items() if k != "checks"}
        log(f"{name}: {json.dumps(shown, default=str)}")
        for check in figures.get("checks", []):
            if not check["ok"]:
                log(f"ANOMALY in {name}: {check['name']}: {check['detail']}")


def profiled(run: Any, processes: Processes, svg: Path, plan: Any, results: dict[str, Any]) -> Any:
    """``run`` with py-spy on one web worker for all but its first and last seconds."""
    from bench import profile

    workers = profile.worker_pids(processes.children["web"].pid)
    if not workers:
        results["errors"].append("profile: no web worker found")
        return run()
    duration = max(1.0, plan.duration - 4)
    with profile.recording(workers[0], svg.resolve(), duration) as raw:
        scenario = run()
    results["profile"] = {
        "scenario": "spread",
        "svg": str(svg),
        "seconds": duration,
        "layers": profile.layer_shares(raw.read_text()) if raw.exists() else {},
    }
    log(f"profile: {svg} {json.dumps(results['profile']['layers'])}")
    return scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one-minute smoke run")
    parser.add_argument("--server", choices=["gunicorn", "granian"], default=DEFAULT_SERVER)
    parser.add_argument("--web-workers", type=int, default=DEFAULT_WEB_WORKERS)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--only", help="comma-separated scenarios (and limits) to run; default all")
    parser.add_argument("--no-write", action="store_true", help="print, write no report")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="SVG",
        help="py-spy one web worker during `spread`: a flame graph at SVG, layers in the report",
    )
    args = parser.parse_args(argv)
    selected = set(args.only.split(",")) if args.only else None

    def wanted(name: str, group: str | None = None) -> bool:
        return selected is None or name in selected or group in selected

    event_loop_policy_install()
    sys.path.insert(0, str(BASE_DIR))
    log("starting PostgreSQL and Redis")
    services = services_start()
    environment = django_environment(services, pool_max_size=4)
    os.environ.update(environment)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from bench import pglimits, scenarios
    from bench.bare import references

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres_version = cursor.fetchone()[0]
    plan = scenarios.Plan(quick=args.quick, clients=args.clients)
    started = time.monotonic()
    results: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "commit": git_commit(),
        "machine": {
            "cpus": multiprocessing.cpu_count(),
            "python": platform.python_version(),
            "postgres": postgres_version,
            "embedded_servers": services.embedded,
        },
        "setup": {
            "server": args.server,
            "web_workers": args.web_workers,
            "celery_workers": 1,
            "celery_worker_concurrency": WORKER_CONCURRENCY,
            "clients": plan.clients,
            "database_pool_max_per_worker": 4,
        },
        "limits": {},
        "scenarios": {},
        "errors": [],
    }
    processes = Processes(environment, BENCH_VAR_DIR / "logs")
    duration = plan.duration
    try:
        with (
            provider_running(processes),
            worker_running(processes),
            web_running(processes, server=args.server, workers=args.web_workers) as base_url,
            contextlib.ExitStack() as bare_stack,
        ):
            log(f"Tally up at {base_url} ({args.server}, {args.web_workers} workers)")
            warm = scenarios.warm_up(base_url, plan)
            results["scenarios"]["warm-up"] = report_writer.scenario_dict(warm)
            for anomaly in warm.anomalies:
                log(f"ANOMALY in warm-up: {anomaly.name}: {anomaly.detail}")
            bare_names = [n for n in references.NAMES if wanted(n, "bare")]
            bare = BareReferences(results, plan, services.database_url, bare_names)
            if bare_names:
                bare.start(bare_stack, processes, args)
            bare.measure(BARE_BEFORE["ceiling"])
            if wanted("ceiling"):
                ceiling = pglimits.framework_ceiling(
                    base_url, clients=plan.clients, duration=duration
                )
                results["limits"]["framework_ceiling"] = {
                    "requests_per_s": round(ceiling.throughput(), 1),
                    "latency_ms": ceiling.latency_ms(),
                    "errors": ceiling.server_errors(),
                }
                log(f"framework ceiling: {ceiling.summary()}")
            for name, accounts in (("pg_hot", 1), ("pg_spread", 100)):
                if wanted(name):
                    figures = pglimits.pgbench_sales(
                        services,
                        clients=plan.clients,
                        duration=duration,
                        accounts=accounts,
                        label=name,
                    )
                    results["limits"][name] = figures
                    log(f"{name}: {figures}")
            connections.close_all()

            spread_vendors: list[scenarios.Vendor] = []
            if any(wanted(n) for n in ("spread", "balance", "mixed", "latency")):
                log("seeding 100 vendors")
                spread_vendors = scenarios.vendors_seed(
                    count=100, credit_minor=100_000_000, label="spread"
                )
            runs = [
                ("hot", lambda: scenarios.scenario_hot(base_url, plan)),
                ("spread", lambda: scenarios.scenario_spread(base_url, plan, spread_vendors)),
                ("balance", lambda: scenarios.scenario_balance(base_url, plan, spread_vendors)),
                ("mixed", lambda: scenarios.scenario_mixed(base_url, plan, spread_vendors)),
                (
                    "latency",
                    lambda: scenarios.scenario_latency(
                        base_url,
                        plan,
                        spread_vendors,
                        report_writer._get(
                            results, "scenarios", "spread", "figures", "sales_per_s"
                        ),
                    ),
                ),
                ("depth", lambda: scenarios.scenario_depth(base_url, plan)),
                ("activation", lambda: scenarios.scenario_activation(base_url, plan)),
                ("orders", lambda: scenarios.scenario_orders(base_url, plan)),
                ("checkout", lambda: scenarios.scenario_checkout(base_url, plan)),
            ]
            for name, run in runs:
                bare.measure(BARE_BEFORE.get(name))
                if not wanted(name):
                    continue
                log(f"scenario {name}")
                try:
                    if name == "spread" and args.profile:
                        scenario = profiled(run, processes, args.profile, plan, results)
                    else:
                        scenario = run()
                except Exception:
                    results["errors"].append(f"{name}: {traceback.format_exc()}")
                    log(f"scenario {name} FAILED:\n{traceback.format_exc()}")
                    continue
                finally:
                    connections.close_all()
                results["scenarios"][name] = report_writer.scenario_dict(scenario)
                log(f"{name}: {json.dumps(scenario.figures, default=str)}")
                for anomaly in scenario.anomalies:
                    log(f"ANOMALY in {name}: {anomaly.name}: {anomaly.detail}")
        if wanted("verify"):
            log(f"scenario verify ({plan.verify_entries:,} entries)")
            results["scenarios"]["verify"] = report_writer.verify_dict(
                verify_scenario(services.server_url, plan.verify_entries), plan.verify_entries
            )
            log(f"verify: {results['scenarios']['verify']['figures']}")
    finally:
        processes.stop_all()
        connections.close_all()

    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["bare_ratios"] = report_writer.bare_ratios(results)
    results["targets"] = report_writer.targets(results)
    results["anomalies"] = report_writer.anomalies(results)
    print(report_writer.summary_text(results), flush=True)
    if args.no_write:
        pass
    elif args.quick:
        QUICK_RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
        QUICK_RESULTS_PATH.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"wrote {QUICK_RESULTS_PATH.relative_to(BASE_DIR)} (the report is left as it is)")
    else:
        RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_PATH.write_text(json.dumps(results, indent=2, default=str) + "\n")
        report_writer.markdown_write(DOC_PATH, results)
        log(f"wrote {RESULTS_PATH.relative_to(BASE_DIR)} and {DOC_PATH.relative_to(BASE_DIR)}")
    failed = bool(results["anomalies"] or results["errors"])
    if failed:
        log("FAILED: anomalies or errors above")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
