"""Tally against the bare Django references of the same run: ratios, targets, anomalies,
the report's rows, and the bare app's command line."""

from __future__ import annotations

from typing import Any

import pytest

from bench import report
from bench.bare.references import BARE_WSGI, bare_argv

LATENCY = {"p50": 20.0, "p95": 30.0, "p99": 40.0, "max": 50.0}


def _results(*, bare: bool = True, **scenarios: dict) -> dict[str, Any]:
    limits: dict[str, Any] = {
        "pg_hot": {"tps": 500.0, "failed": 0, "clients": 32, "latency_avg_ms": 60.0},
        "pg_spread": {"tps": 1200.0, "failed": 0, "clients": 32, "latency_avg_ms": 25.0},
        "framework_ceiling": {"requests_per_s": 900.0, "errors": 0, "latency_ms": LATENCY},
    }
    if bare:
        limits.update(
            bare_sale_hot={"sales_per_s": 400.0, "clients": 32, "errors": 0, "checks": []},
            bare_sale_spread={"sales_per_s": 800.0, "clients": 32, "errors": 0, "checks": []},
            bare_read={"requests_per_s": 1000.0, "clients": 32, "errors": 0, "checks": []},
            bare_ping={"requests_per_s": 1500.0, "clients": 32, "errors": 0, "checks": []},
        )
        for figures in limits.values():
            figures.setdefault("latency_ms", LATENCY)
    return {
        "generated_at": "2026-01-01T00:00:00+00:00",
        "commit": "abc",
        "quick": False,
        "elapsed_s": 1.0,
        "machine": {"cpus": 2, "python": "3.11", "postgres": "16", "embedded_servers": True},
        "setup": {"server": "gunicorn", "web_workers": 4, "celery_workers": 1, "clients": 32},
        "limits": limits,
        "scenarios": scenarios,
        "errors": [],
    }


def _tally_scenarios() -> dict[str, dict]:
    return {
        "hot": {
            "figures": {"sales": 5000, "sales_per_s": 260.0, "latency_ms": LATENCY},
            "checks": [],
        },
        "spread": {
            "figures": {"sales": 9000, "sales_per_s": 400.0, "latency_ms": LATENCY},
            "checks": [],
        },
        "balance": {
            "figures": {"reads": 21000, "reads_per_s": 700.0, "latency_ms": LATENCY},
            "checks": [],
        },
    }


def test_each_tally_figure_is_divided_by_its_own_reference() -> None:
    ratios = {r["key"]: r for r in report.bare_ratios(_results(**_tally_scenarios()))}
    assert ratios["hot"]["ratio"] == 0.65  # 260 hot ÷ 400 bare hot, not ÷ 800 bare spread
    assert ratios["spread"]["ratio"] == 0.5  # 400 ÷ 800
    assert ratios["balance"]["ratio"] == 0.7  # 700 reads ÷ 1,000 bare reads
    assert ratios["no_database"]["ratio"] == 0.6  # 900 /health/live ÷ 1,500 bare pings


def test_a_reference_not_measured_or_zero_gives_no_ratio() -> None:
    results = _results(**_tally_scenarios())
    del results["limits"]["bare_sale_hot"]
    results["limits"]["bare_read"]["requests_per_s"] = 0.0
    ratios = {r["key"]: r["ratio"] for r in report.bare_ratios(results)}
    assert ratios["hot"] is None
    assert ratios["balance"] is None
    assert ratios["spread"] == 0.5


def test_targets_ask_sixty_percent_of_the_bare_rates() -> None:
    results = _results(**_tally_scenarios())
    by_name = {t["name"]: t for t in report.targets(results)}
    hot = by_name["hot sales ≥ 60 % of the bare Django sale on 1 hot account"]
    assert (hot["met"], hot["bound"], hot["margin"]) == (True, 240.0, round(20 / 240, 3))
    spread = by_name["spread sales ≥ 60 % of the bare Django sale on 100 accounts"]
    assert (spread["met"], spread["bound"], spread["margin"]) == (False, 480.0, round(-80 / 480, 3))
    balance = by_name["balance reads ≥ 60 % of the bare Django read"]
    assert (balance["met"], balance["bound"], balance["unit"]) == (True, 600.0, "reads/s")


def test_without_the_references_the_bare_targets_are_not_measured() -> None:
    by_name = {t["name"]: t for t in report.targets(_results(bare=False, **_tally_scenarios()))}
    assert by_name["hot sales ≥ 60 % of the bare Django sale on 1 hot account"]["met"] is None
    assert by_name["balance reads ≥ 60 % of the bare Django read"]["met"] is None


def test_a_missed_bare_target_is_reported_not_an_anomaly() -> None:
    scenarios = _tally_scenarios()
    scenarios["spread"]["figures"]["sales_per_s"] = 10.0
    results = _results(**scenarios)
    missed = [t for t in report.targets(results) if t["met"] is False]
    assert any("bare Django sale on 100 accounts" in t["name"] for t in missed)
    assert report.anomalies(results) == []


def test_a_bare_reference_with_a_failed_check_or_errors_is_an_anomaly() -> None:
    results = _results()
    results["limits"]["bare_sale_hot"]["checks"] = [
        {"name": "credit ends at 0", "ok": False, "detail": "100"},
        {"name": "the other N are 422", "ok": True, "detail": "200"},
    ]
    results["limits"]["bare_ping"]["errors"] = 2
    assert report.anomalies(results) == [
        "bare_sale_hot: credit ends at 0 (100)",
        "bare_ping: 2 failed",
    ]


def test_the_report_shows_the_references_and_the_ratios_beside_raw_pg_and_ceiling() -> None:
    results = _results(**_tally_scenarios())
    results.update(targets=report.targets(results), anomalies=[])
    text = report.markdown(results)
    assert (
        "| bare Django sale (guarded UPDATE + INSERT), 1 hot account, 32 clients, same server "
        "and workers | 400 sales/s | p50 20.0 ms, p99 40.0 ms |"
    ) in text
    assert "| bare Django `GET /ping/` (no database), 32 clients" in text
    assert "### Tally ÷ bare Django (same run)" in text
    assert (
        "| hot sales, 1 vendor | 260 sales/s | bare sale, 1 hot account | 400 sales/s | 0.65 "
        "| 0.52 | 0.29 |"
    ) in text
    assert (
        "| spread sales, 100 vendors | 400 sales/s | bare sale, 100 accounts | 800 sales/s "
        "| 0.50 | 0.33 | 0.44 |"
    ) in text
    assert "| balance reads, 100 vendors | 700 reads/s | bare read, one SELECT |" in text
    assert "| 1,000 reads/s | 0.70 | – | 0.78 |" in text
    assert "| balance: reads, 100 vendors | 700/s | 20.0 |" in text


def test_without_references_the_report_has_no_ratio_table() -> None:
    results = _results(bare=False, **_tally_scenarios())
    results.update(targets=report.targets(results), anomalies=[])
    assert "Tally ÷ bare Django" not in report.markdown(results)


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_the_bare_app_runs_under_tallys_own_server_command(server: str) -> None:
    argv = bare_argv(server, port=8123, workers=3)
    assert BARE_WSGI in argv
    assert "config.wsgi:application" not in argv
    assert argv[argv.index("--workers") + 1] == "3"
    if server == "gunicorn":
        assert argv[argv.index("-c") + 1] == "config/gunicorn.py"


def test_the_printed_summary_lists_the_measured_ratios() -> None:
    results = _results(**_tally_scenarios())
    del results["scenarios"]["balance"]
    results.update(targets=report.targets(results), anomalies=[])
    text = report.summary_text(results)
    assert "  0.65  hot sales, 1 vendor 260 ÷ bare sale, 1 hot account 400" in text
    assert "  0.50  spread sales, 100 vendors 400 ÷ bare sale, 100 accounts 800" in text
    assert "balance reads, 100 vendors" not in text


def test_latency_targets_compare_single_sales_with_the_bare_sale_at_the_same_rate() -> None:
    # given: single sales at p50 25 ms against the bare sale's 20 ms; p99 60 ms at 70 % load
    results = _results(
        latency={
            "figures": {
                "load_rate": 280.0,
                "single": {"rate": 5.0, "requests": 150, "latency_ms": {**LATENCY, "p50": 25.0}},
                "load": {"rate": 280.0, "requests": 8400, "latency_ms": {**LATENCY, "p99": 60.0}},
            },
            "checks": [],
        }
    )
    results["limits"]["bare_sale_single"] = {
        "rate": 5.0,
        "clients": 5,
        "errors": 0,
        "checks": [],
        "latency_ms": LATENCY,
    }
    # when
    targets = {t["name"]: t for t in report.targets(results)}
    text = report.markdown({**results, "targets": list(targets.values()), "anomalies": []})
    # then: 25 ≤ 1.5 x 20 is met with a sixth to spare; 60 ms misses 50 ms by a fifth
    single = targets["a single sale at 5 req/s: p50 ≤ 1.5 × the bare sale's at 5 req/s"]
    assert (single["met"], single["bound"], single["margin"]) == (True, 30.0, 0.167)
    load = targets["open-loop p99 < 50 ms at 70 % of Tally's own spread maximum"]
    assert (load["met"], load["margin"]) == (False, -0.2)
    assert "a single sale at 5 req/s (open loop)" in text
    assert "sales at 280 req/s, 70 % of the spread maximum (open loop)" in text
    assert "bare Django sale, 100 accounts, open loop, same server and workers | 5 req/s" in text
