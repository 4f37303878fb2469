"""Turn a bench run into ``bench/results/latest.json`` and the results section of
``docs/benchmarks.md`` (between the ``bench:results`` markers; the prose around them is
written by hand)."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.scenarios import ScenarioReport

START_MARKER = "<!-- bench:results:start -->"
END_MARKER = "<!-- bench:results:end -->"


def scenario_dict(scenario: ScenarioReport) -> dict[str, Any]:
    return {
        "description": scenario.description,
        "figures": scenario.figures,
        "load": scenario.load,
        "checks": [asdict(c) for c in scenario.checks],
        "failures": scenario.failures,
    }


def verify_dict(run: dict[str, Any], entries: int) -> dict[str, Any]:
    ok = run.get("returncode") == 0 and bool(run.get("ok"))
    return {
        "description": f"`verify_ledger` on a generated ledger of {entries:,} entries.",
        "figures": {
            "entries": run.get("entries"),
            "verify_s": run.get("verify_s"),
            "second_run_s": run.get("second_run_s"),
            "generate_s": run.get("generate_s"),
        },
        "load": {},
        "checks": [
            {"name": "verify_ledger clean", "ok": ok, "detail": run.get("output", "")[-500:]}
        ],
        "failures": [],
    }


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _target(
    name: str, measured: float | None, bound: float | None, *, at_least: bool, unit: str
) -> dict[str, Any]:
    if measured is None or bound is None or math.isnan(measured) or math.isnan(bound):
        return {"name": name, "met": None, "measured": measured, "bound": bound, "unit": unit}
    met = measured >= bound if at_least else measured <= bound
    return {
        "name": name,
        "met": met,
        "measured": round(measured, 2),
        "bound": round(bound, 2),
        "unit": unit,
        # How far from the bound, as a share of it (negative: missed by that much).
        "margin": round((measured - bound) / bound if at_least else (bound - measured) / bound, 3),
    }


# Tally against the bare Django references (bench/bare/): the share of the bare app's rate
# that Tally's targets ask for, and which figure is compared with which.
BARE_SHARE = 0.6
BARE_PAIRS: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...], str], ...] = (
    (
        "hot",
        "hot sales, 1 vendor",
        ("scenarios", "hot", "figures", "sales_per_s"),
        "bare sale, 1 hot account",
        ("limits", "bare_sale_hot", "sales_per_s"),
        "sales/s",
    ),
    (
        "spread",
        "spread sales, 100 vendors",
        ("scenarios", "spread", "figures", "sales_per_s"),
        "bare sale, 100 accounts",
        ("limits", "bare_sale_spread", "sales_per_s"),
        "sales/s",
    ),
    (
        "balance",
        "balance reads, 100 vendors",
        ("scenarios", "balance", "figures", "reads_per_s"),
        "bare read, one SELECT",
        ("limits", "bare_read", "requests_per_s"),
        "reads/s",
    ),
    (
        "no_database",
        "`GET /health/live` (the framework ceiling)",
        ("limits", "framework_ceiling", "requests_per_s"),
        "bare `GET /ping/`",
        ("limits", "bare_ping", "requests_per_s"),
        "req/s",
    ),
)
_BARE_TARGET_NAMES = {
    "hot": "hot sales ≥ 60 % of the bare Django sale on 1 hot account",
    "spread": "spread sales ≥ 60 % of the bare Django sale on 100 accounts",
    "balance": "balance reads ≥ 60 % of the bare Django read",
}


def bare_ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each Tally figure beside its bare reference from the same run, and their ratio
    (``None`` when either side was not measured or the reference is 0)."""
    rows = []
    for key, label, tally_path, bare_label, bare_path, unit in BARE_PAIRS:
        tally, bare = _get(results, *tally_path), _get(results, *bare_path)
        usable = tally is not None and bare and not math.isnan(tally) and not math.isnan(bare)
        rows.append(
            {
                "key": key,
                "label": label,
                "bare_label": bare_label,
                "tally": tally,
                "bare": bare,
                "ratio": round(tally / bare, 3) if usable else None,
                "unit": unit,
                "target": _BARE_TARGET_NAMES.get(key, ""),
            }
        )
    return rows


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    pg_hot = _get(results, "limits", "pg_hot", "tps")
    pg_spread = _get(results, "limits", "pg_spread", "tps")
    ceiling = _get(results, "limits", "framework_ceiling", "requests_per_s")
    hot = _get(results, "scenarios", "hot", "figures", "sales_per_s")
    spread = _get(results, "scenarios", "spread", "figures", "sales_per_s")
    spread_p99 = _get(results, "scenarios", "spread", "figures", "latency_ms", "p99")
    depth = _get(results, "scenarios", "depth", "figures", "ratio_p50")
    verify = _get(results, "scenarios", "verify", "figures", "verify_s")
    spread_bound = None
    if pg_spread is not None and ceiling is not None:
        spread_bound = 0.5 * min(pg_spread, ceiling)
    bare = {r["key"]: r for r in bare_ratios(results)}
    single_bare = _get(results, "limits", "bare_sale_single", "latency_ms", "p50")

    def of_bare(key: str) -> dict[str, Any]:
        row = bare[key]
        bound = None if row["bare"] is None else BARE_SHARE * row["bare"]
        return _target(row["target"], row["tally"], bound, at_least=True, unit=row["unit"])

    return [
        _target(
            "hot sales ≥ 50 % of raw PostgreSQL hot-row rate",
            hot,
            None if pg_hot is None else 0.5 * pg_hot,
            at_least=True,
            unit="sales/s",
        ),
        _target(
            "spread sales ≥ 50 % of min(raw PostgreSQL spread rate, framework ceiling)",
            spread,
            spread_bound,
            at_least=True,
            unit="sales/s",
        ),
        of_bare("hot"),
        of_bare("spread"),
        of_bare("balance"),
        _target("spread p99 < 50 ms at 32 clients", spread_p99, 50.0, at_least=False, unit="ms"),
        _target(
            "open-loop p99 < 50 ms at 70 % of Tally's own spread maximum",
            _get(results, "scenarios", "latency", "figures", "load", "latency_ms", "p99"),
            50.0,
            at_least=False,
            unit="ms",
        ),
        _target(
            "a single sale at 5 req/s: p50 ≤ 1.5 × the bare sale's at 5 req/s",
            _get(results, "scenarios", "latency", "figures", "single", "latency_ms", "p50"),
            None if single_bare is None else 1.5 * single_bare,
            at_least=False,
            unit="ms",
        ),
        _target("page 1,000 costs ≤ 1.5 × page 1", depth, 1.5, at_least=False, unit="×"),
        _target("10 M-entry verify < 60 s", verify, 60.0, at_least=False, unit="s"),
    ]


def anomalies(results: dict[str, Any]) -> list[str]:
    found = []
    for name, scenario in results["scenarios"].items():
        for check in scenario["checks"]:
            if not check["ok"]:
                found.append(f"{name}: {check['name']} ({check['detail']})")
    for name, limit in results["limits"].items():
        if not isinstance(limit, dict):
            continue
        if limit.get("failed") or limit.get("errors"):
            found.append(f"{name}: {limit.get('failed') or limit.get('errors')} failed")
        for check in limit.get("checks", []):
            if not check["ok"]:
                found.append(f"{name}: {check['name']} ({check['detail']})")
    return found


def _ms(latency: dict[str, float] | None, key: str) -> str:
    if not latency or latency.get(key) is None or math.isnan(latency[key]):
        return "–"
    return f"{latency[key]:.1f}"


def _ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return "–"
    return f"{value / base:.2f}"


def bare_lines(
    results: dict[str, Any], *, pg_hot: float | None, pg_spread: float | None, ceiling: float | None
) -> list[str]:
    """The table of Tally ÷ the bare references, with the raw PostgreSQL and framework
    ceiling ratios beside them; nothing when no reference was measured."""
    rows = [r for r in bare_ratios(results) if r["ratio"] is not None]
    if not rows:
        return []
    raw_pg = {"hot": pg_hot, "spread": pg_spread}
    lines = [
        "",
        "### Tally ÷ bare Django (same run)",
        "",
        "| Tally | rate | bare reference | rate | Tally ÷ bare | Tally ÷ raw PG | Tally ÷ ceiling |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        by_ceiling = "" if r["key"] == "no_database" else _ratio(r["tally"], ceiling)
        lines.append(
            f"| {r['label']} | {r['tally']:,.0f} {r['unit']} | {r['bare_label']} | "
            f"{r['bare']:,.0f} {r['unit']} | {r['ratio']:.2f} | "
            f"{_ratio(r['tally'], raw_pg.get(r['key']))} | {by_ceiling} |"
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    limits = results["limits"]
    pg_hot = _get(limits, "pg_hot", "tps")
    pg_spread = _get(limits, "pg_spread", "tps")
    ceiling = _get(limits, "framework_ceiling", "requests_per_s")
    setup, machine = results["setup"], results["machine"]
    lines = [
        START_MARKER,
        "",
        f"Run of {results['generated_at']} on commit `{results['commit']}`"
        + (" — **quick mode** (smoke sizes; not the figures to quote)" if results["quick"] else "")
        + f": {machine['cpus']} CPUs, Python {machine['python']}, PostgreSQL "
        f"{machine['postgres']} ({'embedded' if machine['embedded_servers'] else 'external'}), "
        f"{setup['server']} with {setup['web_workers']} workers, {setup['celery_workers']} "
        f"Celery worker, {setup['clients']} load clients on the same cores. Whole run "
        f"{results['elapsed_s']:.0f} s.",
        "",
        "### The machine's limits (same run)",
        "",
        "| limit | rate | latency |",
        "|---|---:|---|",
    ]
    if pg_hot:
        lines.append(
            f"| raw PostgreSQL, a sale's writes, 1 hot account, {limits['pg_hot']['clients']} "
            f"clients (pgbench) | {pg_hot:,.0f} tx/s | avg {limits['pg_hot']['latency_avg_ms']} ms |"
        )
    if pg_spread:
        lines.append(
            f"| raw PostgreSQL, a sale's writes, 100 accounts, {limits['pg_spread']['clients']} "
            f"clients (pgbench) | {pg_spread:,.0f} tx/s | avg {limits['pg_spread']['latency_avg_ms']} ms |"
        )
    if ceiling:
        lat = limits["framework_ceiling"]["latency_ms"]
        lines.append(
            f"| framework ceiling: `GET /health/live`, same server and middleware | "
            f"{ceiling:,.0f} req/s | p50 {_ms(lat, 'p50')} ms, p99 {_ms(lat, 'p99')} ms |"
        )
    for key, label in (
        ("bare_sale_hot", "bare Django sale (guarded UPDATE + INSERT), 1 hot account"),
        ("bare_sale_spread", "bare Django sale (guarded UPDATE + INSERT), 100 accounts"),
        ("bare_read", "bare Django read (one SELECT), 100 accounts"),
        ("bare_ping", "bare Django `GET /ping/` (no database)"),
        ("bare_sale_single", "bare Django sale, 100 accounts, open loop"),
    ):
        figures = limits.get(key)
        if not figures:
            continue
        lat = figures.get("latency_ms")
        if "rate" in figures:  # open loop: a fixed rate offered, not a concurrency
            load, rate_text = "same server and workers", f"{figures['rate']:g} req/s offered"
        else:
            rate = figures.get("sales_per_s", figures.get("requests_per_s"))
            unit = "sales/s" if "sales_per_s" in figures else "req/s"
            load = f"{figures['clients']} clients, same server and workers"
            rate_text = f"{rate:,.0f} {unit}"
        lines.append(
            f"| {label}, {load} | {rate_text} | "
            f"p50 {_ms(lat, 'p50')} ms, p99 {_ms(lat, 'p99')} ms |"
        )
    lines += bare_lines(results, pg_hot=pg_hot, pg_spread=pg_spread, ceiling=ceiling)
    lines += [
        "",
        "### Scenarios",
        "",
        "| scenario | throughput | p50 ms | p95 ms | p99 ms | max ms | ÷ raw PG | ÷ ceiling | anomalies |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    scenarios = results["scenarios"]

    def row(label: str, rate: float | None, latency: Any, pg: float | None, name: str) -> None:
        bad = sum(1 for c in scenarios[name]["checks"] if not c["ok"])
        rate_text = "–" if rate is None else f"{rate:,.0f}/s"
        lines.append(
            f"| {label} | {rate_text} | {_ms(latency, 'p50')} | {_ms(latency, 'p95')} | "
            f"{_ms(latency, 'p99')} | {_ms(latency, 'max')} | {_ratio(rate, pg)} | "
            f"{_ratio(rate, ceiling)} | {bad} |"
        )

    def subrow(label: str, rate: float | None, latency: Any) -> None:
        rate_text = "–" if rate is None else f"{rate:,.0f}/s"
        lines.append(
            f"| &nbsp;&nbsp;{label} | {rate_text} | {_ms(latency, 'p50')} | "
            f"{_ms(latency, 'p95')} | {_ms(latency, 'p99')} | {_ms(latency, 'max')} | | | |"
        )

    if "hot" in scenarios:
        f = scenarios["hot"]["figures"]
        row(
            f"hot: sales ({f['sales']:,} of 2×{f['sales']:,} attempts)",
            f["sales_per_s"],
            f["latency_ms"],
            pg_hot,
            "hot",
        )
    if "spread" in scenarios:
        f = scenarios["spread"]["figures"]
        row("spread: sales, 100 vendors", f["sales_per_s"], f["latency_ms"], pg_spread, "spread")
    if "balance" in scenarios:
        f = scenarios["balance"]["figures"]
        row("balance: reads, 100 vendors", f["reads_per_s"], f["latency_ms"], None, "balance")
    if "mixed" in scenarios:
        f = scenarios["mixed"]["figures"]
        row("mixed: all requests", f["requests_per_s"], f["latency_ms"], pg_spread, "mixed")
        for tag, figures in f["by_tag"].items():
            lines.append(
                f"| &nbsp;&nbsp;mixed: {tag} | {figures['per_s']:,.0f}/s | "
                f"{_ms(figures['latency_ms'], 'p50')} | {_ms(figures['latency_ms'], 'p95')} | "
                f"{_ms(figures['latency_ms'], 'p99')} | {_ms(figures['latency_ms'], 'max')} | | | |"
            )
    if "latency" in scenarios:
        f = scenarios["latency"]["figures"]
        for key, label in (
            ("single", "a single sale at {rate:g} req/s (open loop)"),
            ("load", "sales at {rate:g} req/s, 70 % of the spread maximum (open loop)"),
        ):
            if key in f:
                row(
                    "latency: " + label.format(rate=f[key]["rate"]),
                    None,
                    f[key]["latency_ms"],
                    None,
                    "latency",
                )

    if "depth" in scenarios:
        f = scenarios["depth"]["figures"]
        deep_key = next(k for k in f if k.startswith("page_") and k != "page_1_ms")
        row("depth: statement page 1", None, f["page_1_ms"], None, "depth")
        row(f"depth: statement {deep_key[:-3].replace('_', ' ')}", None, f[deep_key], None, "depth")
    if "activation" in scenarios:
        f = scenarios["activation"]["figures"]
        row(
            f"activation: offer bought → final ({f['succeeded']:,} succeeded, "
            f"{f['failed']:,} failed)",
            f["final_per_s"],
            f["request_to_final_ms"],
            None,
            "activation",
        )
    if "orders" in scenarios:
        f = scenarios["orders"]["figures"]
        row(
            f"orders: placed ({f['orders']:,}, {f['guest_orders']:,} of them by guests)",
            f["orders_per_s"],
            f["latency_ms"],
            None,
            "orders",
        )
        sold_out = f.get("hot_sold_out_after_s")
        for label, rate, latency in (
            (
                f"orders: out_of_stock, hot variant ({f['out_of_stock']:,}"
                + (f", sold out after {sold_out:g} s)" if sold_out is not None else ")"),
                f.get("out_of_stock_per_s"),
                f.get("out_of_stock_latency_ms"),
            ),
            ("orders: cancel", f.get("cancels_per_s"), f.get("cancel_latency_ms")),
        ):
            subrow(label, rate, latency)
    if "checkout" in scenarios:
        f = scenarios["checkout"]["figures"]
        row(
            f"checkout: order + wallet payment, 201 both ({f['checkouts']:,})",
            f["checkouts_per_s"],
            f["checkout_latency_ms"],
            None,
            "checkout",
        )
        subrow("checkout: the payment (201)", f["payments_per_s"], f["payment_latency_ms"])
        subrow(
            f"checkout: payment refused, insufficient_funds ({f['refused_insufficient_funds']:,})",
            f.get("refused_per_s"),
            f.get("refused_latency_ms"),
        )
    if "verify" in scenarios:
        f = scenarios["verify"]["figures"]
        bad = sum(1 for c in scenarios["verify"]["checks"] if not c["ok"])
        lines.append(
            f"| verify: `verify_ledger`, {f['entries'] or 0:,} entries | {f['verify_s']} s "
            f"(second run {f['second_run_s']} s) | | | | | | | {bad} |"
        )
    lines += ["", "### Targets", "", "| target | measured | bound | met |", "|---|---:|---:|---|"]
    for target in results["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[target["met"]]
        if target["met"] is False:
            met += f" (missed by {abs(target['margin']) * 100:.0f} %)"
        lines.append(
            f"| {target['name']} | {target['measured']} {target['unit']} | "
            f"{target['bound']} {target['unit']} | {met} |"
        )
    lines += profile_lines(results)
    lines += ["", "### Anomalies", ""]
    if results["anomalies"] or results["errors"]:
        lines += [f"- {a}" for a in results["anomalies"]]
        lines += [f"- error: {e.splitlines()[0]}" for e in results["errors"]]
    else:
        lines.append(
            "None: after every scenario `verify_ledger` was clean, sale rows matched the 201 "
            "answers and the money they moved, "
            + (
                "every variant's reserved units matched the orders holding them, "
                if "orders" in scenarios
                else ""
            )
            + (
                "every paid checkout's wallet, settlement split and vendor earnings matched "
                "to the unit, "
                if "checkout" in scenarios
                else ""
            )
            + "and no request got a 5xx or lost its connection."
        )
    lines += ["", END_MARKER]
    return "\n".join(lines)


def profile_lines(results: dict[str, Any]) -> list[str]:
    """The profiled worker's samples by layer (``--profile``), when the run took them."""
    profile = results.get("profile")
    if not profile or not profile.get("layers"):
        return []
    lines = [
        "",
        f"### Where a web worker's CPU went during `{profile['scenario']}` (py-spy)",
        "",
        f"One web worker sampled for {profile['seconds']:g} s while it held the GIL (its own "
        f"work, not its waits on PostgreSQL and Redis); flame graph: `{profile['svg']}`. "
        "This run's rates carry the sampler's cost.",
        "",
        "| layer | share of the worker's CPU |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {share:.1%} |" for name, share in profile["layers"].items()]
    return lines


def markdown_write(path: Path, results: dict[str, Any]) -> None:
    section = markdown(results)
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{START_MARKER}\n{END_MARKER}\n"
    if START_MARKER in text and END_MARKER in text:
        head, rest = text.split(START_MARKER, 1)
        _, tail = rest.split(END_MARKER, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def summary_text(results: dict[str, Any]) -> str:
    out = ["", "== targets"]
    for target in results["targets"]:
        out.append(
            f"  {'MET ' if target['met'] else 'MISS' if target['met'] is False else '----'} "
            f"{target['name']}: {target['measured']} (bound {target['bound']})"
        )
    measured = [r for r in bare_ratios(results) if r["ratio"] is not None]
    if measured:
        out.append("== Tally ÷ bare Django (same run)")
        out += [
            f"  {r['ratio']:.2f}  {r['label']} {r['tally']:g} ÷ {r['bare_label']} {r['bare']:g}"
            for r in measured
        ]
    if results.get("profile", {}).get("layers"):
        out.append(f"== where a web worker's CPU went ({results['profile']['svg']})")
        out += [f"  {share:6.1%}  {name}" for name, share in results["profile"]["layers"].items()]
    out.append(f"== anomalies: {len(results['anomalies'])}, errors: {len(results['errors'])}")
    out += [f"  {a}" for a in results["anomalies"]]
    return "\n".join(out)
