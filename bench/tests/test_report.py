"""The bench's verdicts: targets against the limits measured in the same run, anomalies."""

from __future__ import annotations

from bench import report


def _results(**scenarios: dict) -> dict:
    return {
        "limits": {
            "pg_hot": {"tps": 500.0, "failed": 0, "clients": 32, "latency_avg_ms": 60.0},
            "pg_spread": {"tps": 1200.0, "failed": 0, "clients": 32, "latency_avg_ms": 25.0},
            "framework_ceiling": {
                "requests_per_s": 900.0,
                "errors": 0,
                "latency_ms": {"p50": 30.0, "p95": 40.0, "p99": 60.0, "max": 90.0},
            },
        },
        "scenarios": scenarios,
        "errors": [],
    }


def test_targets_are_ratios_to_the_same_runs_limits() -> None:
    results = _results(
        hot={"figures": {"sales_per_s": 260.0}, "checks": []},
        spread={"figures": {"sales_per_s": 400.0, "latency_ms": {"p99": 40.0}}, "checks": []},
        depth={"figures": {"ratio_p50": 1.6}, "checks": []},
        verify={"figures": {"verify_s": 20.0}, "checks": []},
    )
    by_name = {t["name"]: t for t in report.targets(results)}
    hot = by_name["hot sales ≥ 50 % of raw PostgreSQL hot-row rate"]
    assert (hot["met"], hot["bound"]) == (True, 250.0)
    spread = by_name["spread sales ≥ 50 % of min(raw PostgreSQL spread rate, framework ceiling)"]
    assert (spread["met"], spread["bound"]) == (False, 450.0)  # half the ceiling, the lower
    assert spread["margin"] == round((400 - 450) / 450, 3)
    assert by_name["spread p99 < 50 ms at 32 clients"]["met"] is True
    assert by_name["page 1,000 costs ≤ 1.5 × page 1"]["met"] is False
    assert by_name["10 M-entry verify < 60 s"]["met"] is True


def test_a_scenario_not_run_is_not_measured_rather_than_met() -> None:
    targets = report.targets(_results())
    assert all(t["met"] is None for t in targets)


def test_failed_checks_and_failed_limit_runs_are_anomalies() -> None:
    results = _results(
        hot={"figures": {}, "checks": [{"name": "balance ends at 0", "ok": False, "detail": "-1"}]}
    )
    results["limits"]["pg_spread"]["failed"] = 3
    found = report.anomalies(results)
    assert found == ["hot: balance ends at 0 (-1)", "pg_spread: 3 failed"]


def test_the_report_section_replaces_only_its_markers(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        f"# Benchmarks\n\nprose\n\n{report.START_MARKER}\nold\n{report.END_MARKER}\n\ntail\n"
    )
    results = _results()
    results.update(
        generated_at="2026-01-01T00:00:00+00:00",
        commit="abc",
        quick=False,
        elapsed_s=1.0,
        machine={"cpus": 2, "python": "3.11", "postgres": "16", "embedded_servers": True},
        setup={"server": "gunicorn", "web_workers": 4, "celery_workers": 1, "clients": 32},
        targets=report.targets(results),
        anomalies=[],
    )
    report.markdown_write(doc, results)
    text = doc.read_text()
    assert "prose" in text
    assert "tail" in text
    assert "old" not in text
    assert "| raw PostgreSQL, a sale's writes, 1 hot account" in text


def test_the_orders_rows_show_placed_refused_and_cancelled() -> None:
    latency = {"p50": 40.0, "p95": 60.0, "p99": 80.0, "max": 90.0}
    results = _results(
        orders={
            "figures": {
                "orders": 2400,
                "guest_orders": 1190,
                "orders_per_s": 80.0,
                "latency_ms": latency,
                "out_of_stock": 350,
                "out_of_stock_per_s": 11.7,
                "out_of_stock_latency_ms": {"p50": 20.0, "p95": 30.0, "p99": 35.0, "max": 40.0},
                "cancels": 240,
                "cancels_per_s": 8.0,
                "cancel_latency_ms": latency,
                "hot_sold_out_after_s": 9.5,
            },
            "checks": [{"name": "no negative stock", "ok": True, "detail": "0"}],
        }
    )
    results.update(
        generated_at="2026-01-01T00:00:00+00:00",
        commit="abc",
        quick=False,
        elapsed_s=1.0,
        machine={"cpus": 2, "python": "3.11", "postgres": "16", "embedded_servers": True},
        setup={"server": "gunicorn", "web_workers": 4, "celery_workers": 1, "clients": 32},
        targets=report.targets(results),
        anomalies=[],
    )
    text = report.markdown(results)
    assert (
        "| orders: placed (2,400, 1,190 of them by guests) | 80/s | 40.0 | 60.0 | 80.0 | 90.0 "
        "| – | 0.09 | 0 |"
    ) in text
    assert (
        "| &nbsp;&nbsp;orders: out_of_stock, hot variant (350, sold out after 9.5 s) | 12/s |"
        in (text)
    )
    assert "| &nbsp;&nbsp;orders: cancel | 8/s | 40.0 |" in text
    assert "every variant's reserved units matched the orders holding them" in text


def test_the_checkout_rows_show_paid_pairs_the_payment_and_the_refusals() -> None:
    latency = {"p50": 400.0, "p95": 600.0, "p99": 800.0, "max": 900.0}
    results = _results(
        checkout={
            "figures": {
                "checkouts": 1200,
                "checkouts_per_s": 40.0,
                "checkout_latency_ms": latency,
                "payments_per_s": 40.0,
                "payment_latency_ms": {"p50": 200.0, "p95": 300.0, "p99": 350.0, "max": 400.0},
                "refused_insufficient_funds": 190,
                "refused_per_s": 6.3,
                "refused_latency_ms": latency,
            },
            "checks": [{"name": "no negative balance", "ok": True, "detail": "0"}],
        }
    )
    results.update(
        generated_at="2026-01-01T00:00:00+00:00",
        commit="abc",
        quick=False,
        elapsed_s=1.0,
        machine={"cpus": 2, "python": "3.11", "postgres": "16", "embedded_servers": True},
        setup={"server": "gunicorn", "web_workers": 4, "celery_workers": 1, "clients": 32},
        targets=report.targets(results),
        anomalies=[],
    )
    text = report.markdown(results)
    assert (
        "| checkout: order + wallet payment, 201 both (1,200) | 40/s | 400.0 | 600.0 | 800.0 "
        "| 900.0 | – | 0.04 | 0 |"
    ) in text
    assert "| &nbsp;&nbsp;checkout: the payment (201) | 40/s | 200.0 |" in text
    assert "| &nbsp;&nbsp;checkout: payment refused, insufficient_funds (190) | 6/s |" in text
    assert "every paid checkout's wallet, settlement split and vendor earnings matched" in text
