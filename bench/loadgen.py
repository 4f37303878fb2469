"""Tally's HTTP load generator: asyncio + aiohttp, closed loop or open loop.

Closed loop: a fixed number of clients, each sending its next request as soon as the last
one answered (throughput under a fixed concurrency). Open loop: requests start at a fixed
rate whatever the server does, and each latency counts from the moment its request was
*due*, so a stalled server shows up in the percentiles instead of slowing the load down
(no coordinated omission).

A scenario is a *flow*: an async function that makes one or more calls through a
:class:`Client`. Every call is recorded (tag, status, latency); status 0 means the request
never got an answer (connection refused or reset, timeout).

As a library (what ``bench/scenarios.py`` does)::

    async def sale(client: Client) -> None:
        await client.call("POST", path, json={...}, headers=auth, tag="sale")

    result = asyncio.run(run_closed(base_url, sale, clients=32, duration=30))
    print(result.summary())

From the command line, one request shape against any running Tally::

    .venv/bin/python -m bench.loadgen http://127.0.0.1:8000/health/live --clients 32 --duration 10
    .venv/bin/python -m bench.loadgen http://127.0.0.1:8000/api/v1/vendors/<id>/charges/ \\
        --method POST --header "Authorization: Api-Key <key>" \\
        --body '{"phone_number": "+14155550100", "amount": "1.00"}' --rate 20 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

REQUEST_TIMEOUT_SECONDS = 30.0
# An open-loop run never keeps more requests in flight than this; past it, due requests
# are counted as dropped (the server is too far behind to keep measuring it honestly).
OPEN_LOOP_MAX_IN_FLIGHT = 2_000
_KEPT_BODIES = 5


@dataclass
class Sample:
    tag: str
    status: int
    latency: float  # seconds
    started: float  # seconds since the run began


@dataclass
class Result:
    """Everything a run recorded; the figures are computed from the samples."""

    mode: str
    concurrency: float  # clients (closed loop) or requests per second (open loop)
    elapsed: float
    samples: list[Sample] = field(default_factory=list)
    dropped: int = 0
    # The first few bodies of 5xx answers and transport errors, for the anomaly report.
    failures: list[str] = field(default_factory=list)

    def select(self, tag: str | None = None) -> list[Sample]:
        return [s for s in self.samples if tag is None or s.tag == tag]

    def statuses(self, tag: str | None = None) -> Counter[int]:
        return Counter(s.status for s in self.select(tag))

    def throughput(self, tag: str | None = None, status: int | None = None) -> float:
        chosen = [s for s in self.select(tag) if status is None or s.status == status]
        return len(chosen) / self.elapsed if self.elapsed > 0 else 0.0

    def latency_ms(self, tag: str | None = None) -> dict[str, float]:
        latencies = sorted(s.latency for s in self.select(tag) if s.status != 0)
        if not latencies:
            return {"p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
        return {
            "p50": 1000 * percentile(latencies, 50),
            "p95": 1000 * percentile(latencies, 95),
            "p99": 1000 * percentile(latencies, 99),
            "max": 1000 * latencies[-1],
        }

    def server_errors(self) -> int:
        return sum(1 for s in self.samples if s.status >= 500 or s.status == 0)

    def as_dict(self, tags: list[str] | None = None) -> dict[str, Any]:
        by_tag = {}
        for tag in tags or sorted({s.tag for s in self.samples}):
            by_tag[tag] = {
                "requests": len(self.select(tag)),
                "throughput_rps": round(self.throughput(tag), 1),
                "latency_ms": _rounded(self.latency_ms(tag)),
                "statuses": {str(k): v for k, v in sorted(self.statuses(tag).items())},
            }
        return {
            "mode": self.mode,
            "concurrency": self.concurrency,
            "elapsed_s": round(self.elapsed, 2),
            "requests": len(self.samples),
            "throughput_rps": round(self.throughput(), 1),
            "latency_ms": _rounded(self.latency_ms()),
            "statuses": {str(k): v for k, v in sorted(self.statuses().items())},
            "dropped": self.dropped,
            "by_tag": by_tag,
        }

    def summary(self) -> str:
        lat = self.latency_ms()
        unit = "clients" if self.mode == "closed" else "req/s offered"
        return (
            f"{len(self.samples)} requests in {self.elapsed:.1f}s ({self.concurrency:g} {unit}): "
            f"{self.throughput():.0f} req/s, p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
            f"p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms; statuses "
            f"{dict(sorted(self.statuses().items()))}"
            + (f"; dropped {self.dropped}" if self.dropped else "")
        )


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _rounded(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else round(v, 2)) for k, v in values.items()}


class Client:
    """One simulated client: calls the server and records every call."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, result: Result, t0: float, index: int
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.result = result
        self.t0 = t0
        self.index = index
        # Open loop: when the current flow was due; its first call's latency counts from it.
        self.due: float | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        tag: str = "request",
    ) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON body or None). Never raises for
        HTTP or transport failures: they are recorded (status 0 for no answer)."""
        started = self.due if self.due is not None else time.perf_counter()
        self.due = None
        data = None if json_body is None else json.dumps(json_body).encode()
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        status, body = 0, None
        try:
            async with self.session.request(
                method, self.base_url + path, data=data, headers=all_headers
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._keep_failure(f"{method} {path}: {type(exc).__name__}: {exc}")
        else:
            if raw:
                with contextlib.suppress(ValueError):
                    body = json.loads(raw)
            if status >= 500:
                self._keep_failure(f"{method} {path}: {status} {raw[:300]!r}")
        finished = time.perf_counter()
        self.result.samples.append(Sample(tag, status, finished - started, started - self.t0))
        return status, body

    def _keep_failure(self, text: str) -> None:
        if len(self.result.failures) < _KEPT_BODIES:
            self.result.failures.append(text)


Flow = Callable[[Client], Awaitable[Any]]


def _session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


class StopFlow(Exception):
    """Raised by a flow when its work is used up (a fixed number of attempts)."""


async def run_closed(
    base_url: str, flow: Flow, *, clients: int, duration: float | None = None
) -> Result:
    """``clients`` clients each run ``flow`` back to back until ``duration`` seconds passed
    or a flow raises StopFlow (whichever first)."""
    result = Result(mode="closed", concurrency=clients, elapsed=0.0)
    t0 = time.perf_counter()
    deadline = None if duration is None else t0 + duration

    async def client_loop(client: Client) -> None:
        while deadline is None or time.perf_counter() < deadline:
            try:
                await flow(client)
            except StopFlow:
                return

    async with _session(clients) as session:
        await asyncio.gather(
            *(client_loop(Client(session, base_url, result, t0, i)) for i in range(clients))
        )
    result.elapsed = time.perf_counter() - t0
    return result


async def run_open(base_url: str, flow: Flow, *, rate: float, duration: float) -> Result:
    """Start ``flow`` ``rate`` times a second for ``duration`` seconds, on schedule."""
    result = Result(mode="open", concurrency=rate, elapsed=0.0)
    t0 = time.perf_counter()
    total = int(rate * duration)
    in_flight: set[asyncio.Task[Any]] = set()
    async with _session(OPEN_LOOP_MAX_IN_FLIGHT) as session:
        for n in range(total):
            due = t0 + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= OPEN_LOOP_MAX_IN_FLIGHT:
                result.dropped += 1
                continue
            client = Client(session, base_url, result, t0, n)
            client.due = due
            task = asyncio.create_task(_run_flow(flow, client))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)
    result.elapsed = max(duration, time.perf_counter() - t0)
    return result


async def _run_flow(flow: Flow, client: Client) -> None:
    with contextlib.suppress(StopFlow):
        await flow(client)


def event_loop_policy_install() -> None:
    """uvloop when installed: the generator shares the cores with the server it measures."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load one URL; print throughput and latency.")
    parser.add_argument("url", help="full URL, e.g. http://127.0.0.1:8000/health/live")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="JSON request body")
    parser.add_argument("--header", action="append", default=[], help='"Name: value"')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--clients", type=int, default=32, help="closed loop (default)")
    mode.add_argument("--rate", type=float, help="open loop: requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    split = args.url.split("/", 3)
    base_url, path = "/".join(split[:3]), "/" + (split[3] if len(split) > 3 else "")
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    body = json.loads(args.body) if args.body else None

    async def flow(client: Client) -> None:
        await client.call(args.method, path, json_body=body, headers=headers)

    event_loop_policy_install()
    if args.rate:
        result = asyncio.run(run_open(base_url, flow, rate=args.rate, duration=args.duration))
    else:
        result = asyncio.run(
            run_closed(base_url, flow, clients=args.clients, duration=args.duration)
        )
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.summary())
    for failure in result.failures:
        print("  failure:", failure, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
