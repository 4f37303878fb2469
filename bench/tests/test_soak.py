"""The soak's verdict: drift of memory and latency between its first and last samples."""

from __future__ import annotations

import os

from bench import soak
from bench.loadgen import Result, Sample


def _interval(
    n: int,
    *,
    web: float = 120.0,
    celery: float = 90.0,
    p95: float | None = 20.0,
    errors: int = 0,
    processes: dict[str, float] | None = None,
) -> soak.Interval:
    return soak.Interval(
        end_s=30.0 * (n + 1),
        seconds=30.0,
        requests=1500,
        throughput_rps=50.0,
        latency_ms={"p50": 8.0, "p95": p95, "p99": 40.0, "max": 90.0},
        server_errors=errors,
        no_answer=0,
        dropped=0,
        rss_mib=processes
        if processes is not None
        else {"web main": 40.0, "web 101": web, "celery main": celery},
    )


def _steady(count: int = 10) -> list[soak.Interval]:
    return [_interval(n) for n in range(count)]


def test_a_steady_run_passes() -> None:
    verdict = soak.soak_verdict(_steady(), books_anomalies=[])
    assert verdict.ok, verdict.reasons
    assert verdict.window == soak.DRIFT_WINDOW_SAMPLES
    assert {d.process for d in verdict.memory} == {"web main", "web 101", "celery main"}
    assert not any(d.drifted for d in verdict.memory)
    assert verdict.latency.ratio == 1.0
    assert verdict.line.startswith("SOAK PASS")


def test_a_growing_worker_drifts_and_the_others_stay_flat() -> None:
    # The web worker grows 2 MiB a sample: first window 124 MiB, last 138 — under 16 MiB;
    # at 5 MiB a sample: 130 → 165, +35 MiB and +27 %: a leak.
    slow = [_interval(n, web=120.0 + 2 * (n + 1)) for n in range(10)]
    assert soak.soak_verdict(slow, books_anomalies=[]).ok
    leaking = [_interval(n, web=120.0 + 5 * (n + 1)) for n in range(10)]
    verdict = soak.soak_verdict(leaking, books_anomalies=[])
    assert not verdict.ok
    drifted = {d.process: d for d in verdict.memory if d.drifted}
    assert list(drifted) == ["web 101"]
    assert (drifted["web 101"].first_mib, drifted["web 101"].last_mib) == (130.0, 165.0)
    assert any(r.startswith("memory drift in web 101") for r in verdict.reasons)
    assert verdict.line.startswith("SOAK FAIL")


def test_memory_needs_both_the_share_and_the_floor() -> None:
    # A small process doubling by 10 MiB is under the floor; a big one growing 20 MiB is
    # under the share.
    small = [_interval(n, processes={"celery 7": 10.0 if n < 5 else 20.0}) for n in range(10)]
    assert soak.soak_verdict(small, books_anomalies=[]).ok
    big = [_interval(n, processes={"web 9": 400.0 if n < 5 else 420.0}) for n in range(10)]
    assert soak.soak_verdict(big, books_anomalies=[]).ok
    both = [_interval(n, processes={"web 9": 150.0 if n < 5 else 170.0}) for n in range(10)]
    assert not soak.soak_verdict(both, books_anomalies=[]).ok


def test_latency_drift_needs_the_ratio_and_the_milliseconds() -> None:
    # 4 → 9 ms is more than 1.5 times but only 5 ms: jitter, not drift.
    jitter = [_interval(n, p95=4.0 if n < 5 else 9.0) for n in range(10)]
    assert soak.soak_verdict(jitter, books_anomalies=[]).ok
    slower = [_interval(n, p95=20.0 if n < 5 else 45.0) for n in range(10)]
    verdict = soak.soak_verdict(slower, books_anomalies=[])
    assert not verdict.ok
    assert (verdict.latency.first_p95_ms, verdict.latency.last_p95_ms) == (20.0, 45.0)
    assert verdict.latency.ratio == 2.25
    assert verdict.latency.drifted
    # An interval where nothing answered does not count as zero latency.
    gap = [_interval(n, p95=None if n == 0 else 20.0) for n in range(10)]
    assert soak.soak_verdict(gap, books_anomalies=[]).latency.first_p95_ms == 20.0


def test_errors_books_and_exited_processes_fail_the_run() -> None:
    with_errors = _steady()
    with_errors[4] = _interval(4, errors=2)
    verdict = soak.soak_verdict(with_errors, books_anomalies=[])
    assert not verdict.ok
    assert verdict.server_errors == 2
    assert "2 answers 5xx" in verdict.reasons

    verdict = soak.soak_verdict(_steady(), books_anomalies=["sale rows == 201 answers (3, 4)"])
    assert verdict.reasons == ["books: sale rows == 201 answers (3, 4)"]

    gone = _steady()
    gone[-1] = _interval(9, processes={"web main": 40.0, "celery main": 90.0})
    verdict = soak.soak_verdict(gone, books_anomalies=[])
    assert verdict.exited == ["web 101"]
    assert not verdict.ok


def test_a_run_too_short_to_compare_fails_and_short_runs_shrink_the_window() -> None:
    assert not soak.soak_verdict(_steady(1), books_anomalies=[]).ok
    assert not soak.soak_verdict([], books_anomalies=[]).ok
    assert soak.drift_window(2) == 1
    assert soak.drift_window(5) == 2
    assert soak.drift_window(60) == soak.DRIFT_WINDOW_SAMPLES
    # Four samples: windows of two, first [0, 1] against last [2, 3].
    rising = [_interval(n, web=100.0 if n < 2 else 140.0) for n in range(4)]
    memory = soak.soak_verdict(rising, books_anomalies=[]).memory
    assert [(d.process, d.drifted) for d in memory] == [
        ("celery main", False),
        ("web 101", True),
        ("web main", False),
    ]


def test_an_interval_holds_what_completed_since_the_last_sample() -> None:
    result = Result(mode="open", concurrency=10, elapsed=0.0)
    result.samples = [Sample("sale", 201, 0.010, 0.0) for _ in range(19)]
    result.samples.append(Sample("sale", 201, 0.100, 0.0))
    first, seen = soak.interval_of(result, 0, end_s=10.0, seconds=10.0, dropped=0)
    assert (first.requests, first.throughput_rps, seen) == (20, 2.0, 20)
    assert first.latency_ms["p50"] == 10.0
    assert first.latency_ms["p95"] == 10.0
    assert first.latency_ms["max"] == 100.0
    result.samples += [Sample("sale", 503, 0.02, 1.0), Sample("sale", 0, 30.0, 1.0)]
    second, seen = soak.interval_of(result, seen, end_s=20.0, seconds=10.0, dropped=1)
    assert (second.requests, second.server_errors, second.no_answer, seen) == (2, 1, 1, 22)
    # The unanswered request's 30 s is not a latency.
    assert second.latency_ms["max"] == 20.0


def test_process_rss_reads_this_process_and_its_children() -> None:
    rss = soak.process_rss_mib({"self": os.getpid()})
    assert rss["self main"] > 1.0
    assert all(name.startswith("self ") for name in rss)
    assert soak._rss_bytes_proc(os.getpid()) is not None
