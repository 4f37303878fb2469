"""What one request costs Tally's own process, by layer, measured in-process.

The load scenarios say how many sales the machine sells; this says where a sale's CPU goes
on the web side, without the noise of a shared machine: it calls the production WSGI
application directly (``config.django.production``, every middleware, API-key
authentication, rate limits and an ``Idempotency-Key`` on), one request at a time, and
reads the process's own CPU clock (``time.process_time``), which other processes on the
machine do not move. PostgreSQL's and Redis's own work is not in it (see the load
scenarios and pgbench for those); the round trips to them are, and are counted.

    DATABASE_URL=postgres://…/tally_pathcost REDIS_URL=redis://…/9 \\
        .venv/bin/python -m bench.pathcost [--requests 2000] [--kind sale|balance] [--layers]

The database is migrated and seeded (a vendor with credit and an API key) if needed.
``--layers`` adds a deterministic profile (cProfile) split into the layers of
``docs/benchmarks.md``; it slows every call, so its shares, not its times, are the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "config.django.production",
    "SECRET_KEY": "pathcost-only-secret-key-not-for-production-use-0123456789",
    "METRICS_TOKEN": "pathcost-only-metrics-token-0123456789abcdef",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "false",
    "CACHE_KEY_PREFIX": "tally-pathcost",
    "CELERY_QUEUE": "tally-pathcost",
    "LOG_LEVEL": "WARNING",
    "DATABASE_POOL_MIN_SIZE": "1",
    "DATABASE_POOL_MAX_SIZE": "2",
}
RATE_LIMIT = "100000000/min"
CHUNK = 100

# The layers of a request, as (name, functions whose cumulative time is that layer's). A
# function's time counts once, in the first layer that names it or a caller of it
# (so the SQL of authentication is authentication's, not the service's).
LAYERS: list[tuple[str, list[tuple[str, str]]]] = [
    ("authentication", [("tally/identity/authentication.py", "authenticate")]),
    ("rate limit", [("tally/platform/ratelimit/throttles.py", "allow_request")]),
    (
        "idempotency (lock, lookup, fingerprint, stored outcome)",
        [
            ("tally/platform/idempotency/services.py", "idempotency_lock"),
            ("tally/platform/idempotency/services.py", "idempotency_replay"),
            ("tally/platform/idempotency/services.py", "idempotency_store"),
            ("tally/platform/idempotency/services.py", "request_fingerprint"),
        ],
    ),
    (
        "service and its SQL (accounts, transfer, sale)",
        [
            ("tally/topups/services.py", "charge_sale_create"),
            ("tally/ledger/selectors.py", "account_balance_for_actor"),
            ("tally/ledger/selectors.py", "balance_of"),
        ],
    ),
    (
        "transaction (BEGIN, COMMIT, on-commit hooks)",
        [("django/db/transaction.py", "__enter__"), ("django/db/transaction.py", "__exit__")],
    ),
    (
        "validation and serialization (parse, validate, render)",
        [
            ("rest_framework/serializers.py", "is_valid"),
            ("rest_framework/serializers.py", "data"),
            ("rest_framework/response.py", "rendered_content"),
            ("rest_framework/request.py", "_parse"),
        ],
    ),
    ("logging", [("logging/__init__.py", "handle")]),
]


@dataclass(frozen=True)
class Seeded:
    vendor_id: str
    api_key: str


def setup() -> None:
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for route_class in ("MONEY", "WRITE", "READ", "LOGIN", "REGISTER"):
        os.environ.setdefault(f"RATE_LIMIT_{route_class}", RATE_LIMIT)
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed() -> Seeded:
    from bench.scenarios import vendors_seed

    vendor = vendors_seed(count=1, credit_minor=10**12, label="pathcost")[0]
    return Seeded(vendor_id=vendor.id, api_key=vendor.key)


def environ_for(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "HTTP_HOST": "127.0.0.1",
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def request_maker(kind: str, seeded: Seeded) -> Callable[[int], tuple[dict[str, Any], int]]:
    auth = {"Authorization": f"Api-Key {seeded.api_key}"}
    if kind == "sale":
        path = f"/api/v1/vendors/{seeded.vendor_id}/charges/"
        body = json.dumps({"phone_number": "+16502530001", "amount": "1.00"}).encode()

        def sale(n: int) -> tuple[dict[str, Any], int]:
            headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            return environ_for("POST", path, headers, body), 201

        return sale
    path = f"/api/v1/vendors/{seeded.vendor_id}/balance/"

    def balance(n: int) -> tuple[dict[str, Any], int]:
        return environ_for("GET", path, auth, b""), 200

    return balance


def call(application: Any, environ: dict[str, Any], expected: int) -> None:
    status: list[str] = []
    chunks = application(environ, lambda s, h, *a: status.append(s))
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    if not status[0].startswith(str(expected)):
        raise SystemExit(f"unexpected answer {status[0]}: {body[:300]!r}")


def round_trips(application: Any, make: Callable[[int], tuple[dict[str, Any], int]]) -> dict:
    """SQL statements and Redis commands one request sends (the median of a few)."""
    from django.db import connection
    from django_redis import get_redis_connection
    from redis.client import Redis

    statements: list[str] = []

    def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql.split()[0].upper())
        return execute(sql, params, many, context)

    commands: list[str] = []
    original = Redis.execute_command

    def redis_counting(self: Any, *args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return original(self, *args, **options)

    get_redis_connection("default")
    Redis.execute_command = redis_counting  # type: ignore[method-assign]
    try:
        samples = []
        for n in range(5):
            statements.clear()
            commands.clear()
            environ, expected = make(n)
            with connection.execute_wrapper(counting):
                call(application, environ, expected)
            samples.append((len(statements), len(commands), list(statements), list(commands)))
    finally:
        Redis.execute_command = original  # type: ignore[method-assign]
    samples.sort(key=lambda s: s[0])
    sql, redis, sql_list, redis_list = samples[len(samples) // 2]
    return {"sql": sql, "redis": redis, "sql_statements": sql_list, "redis_commands": redis_list}


def layer_shares(profile: cProfile.Profile, handler_total: float) -> list[tuple[str, float]]:
    stats = pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    shares = []
    for name, functions in LAYERS:
        seconds = 0.0
        for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
            for suffix, wanted in functions:
                if function == wanted and filename.endswith(suffix):
                    seconds += cumulative
        shares.append((name, seconds / handler_total))
    return shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--kind", choices=["sale", "balance"], default="sale")
    parser.add_argument("--layers", action="store_true", help="add a cProfile split by layer")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    setup()
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    make = request_maker(args.kind, seed())
    for n in range(200):  # warm every cache, pool and code path up
        environ, expected = make(n)
        call(application, environ, expected)
    trips = round_trips(application, make)
    # In chunks: the best chunk is the cost with the least interference from the machine's
    # other processes (caches, scheduling); the median shows how much there was.
    chunk_cpu, chunk_wall = [], []
    for first in range(0, args.requests, CHUNK):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        for n in range(first, min(first + CHUNK, args.requests)):
            environ, expected = make(n)
            call(application, environ, expected)
        count = min(CHUNK, args.requests - first)
        chunk_cpu.append((time.process_time() - started_cpu) / count * 1000)
        chunk_wall.append((time.perf_counter() - started_wall) / count * 1000)
    figures: dict[str, Any] = {
        "kind": args.kind,
        "requests": args.requests,
        "cpu_ms_per_request": round(min(chunk_cpu), 3),
        "cpu_ms_per_request_median": round(statistics.median(chunk_cpu), 3),
        "wall_ms_per_request": round(min(chunk_wall), 3),
        **trips,
    }
    if args.layers:
        # CPU time, not wall time: waiting on PostgreSQL and Redis is not this process's work.
        profile = cProfile.Profile(time.process_time)
        profiled = min(args.requests, 1000)
        profile.enable()
        for n in range(profiled):
            environ, expected = make(n)
            call(application, environ, expected)
        profile.disable()
        stats = pstats.Stats(profile)
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        handler_total = max(
            cumulative
            for (filename, _l, function), (_c, _n, _t, cumulative, _r) in raw.items()
            if function == "__call__" and filename.endswith("django/core/handlers/wsgi.py")
        )
        shares = layer_shares(profile, handler_total)
        rest = 1.0 - sum(share for _name, share in shares)
        figures["layers"] = {name: round(share, 3) for name, share in shares}
        figures["layers"]["middleware, routing, DRF dispatch (the rest)"] = round(rest, 3)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, value in figures.items():
            if name == "layers":
                print("share of the request's CPU by layer:")
                for layer, share in value.items():
                    print(f"  {share * 100:5.1f} %  {layer}")
            else:
                print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
