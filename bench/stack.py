"""Tally in a production-like mode for the benchmark: servers, a fresh database, web, worker.

- PostgreSQL and Redis: ``DATABASE_URL`` / ``REDIS_URL`` when both are set (the bench then
  creates its own ``tally_bench`` database on that server and uses its own cache prefix and
  Celery queue), else embedded servers of its own under ``var/bench/`` (never the ones
  ``make run`` uses). ``BENCH_DATABASE`` and ``BENCH_VAR_DIR`` name others, so two benches
  can share a server (each with its own Redis database).
- Settings: ``config.django.production`` (DEBUG off, no demo data), plain HTTP on loopback,
  access log off, rate limits on but set far above the offered load so their Redis round
  trip is paid on every request and never refuses one.
- Web: gunicorn or granian (``--server``), ``--web-workers`` processes. Worker: one Celery
  worker with beat (roll-ups, outbox sweep), as production runs them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg

from tally.platform.testing.live_server import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
BENCH_VAR_DIR = Path(os.environ.get("BENCH_VAR_DIR", BASE_DIR / "var" / "bench"))
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "tally_bench")
START_TIMEOUT_SECONDS = 60.0
# Every limit on, none reachable by the bench: the check's cost is measured, not its refusals.
UNREACHABLE_RATE_LIMIT = "100000000/min"


def database_url_with_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@dataclass
class Services:
    """Where the bench's PostgreSQL and Redis are, and how to reach them by hand."""

    server_url: str  # PostgreSQL server URL, database part meaningless
    database_url: str  # the bench database
    redis_url: str
    embedded: bool

    def libpq_args(self) -> list[str]:
        """``-h/-p/-U`` arguments for libpq tools (pgbench) from the server URL; the host
        may be a percent-encoded socket directory."""
        parts = urlsplit(self.server_url)
        args = ["-h", unquote(parts.netloc.rpartition("@")[2].partition(":")[0])]
        args += ["-U", parts.username or "postgres"]
        if parts.port:
            args += ["-p", str(parts.port)]
        return args


def services_start() -> Services:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    embedded = not (database_url and redis_url)
    if embedded:
        from tally.platform.embedded import ensure_servers

        servers = ensure_servers(BENCH_VAR_DIR, stop_at_exit=True)
        database_url, redis_url = servers.database_url, servers.redis_url
    bench_url = database_url_with_name(database_url, BENCH_DATABASE)
    admin_url = database_url_with_name(database_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    return Services(
        server_url=database_url, database_url=bench_url, redis_url=redis_url, embedded=embedded
    )


def django_environment(services: Services, *, pool_max_size: int) -> dict[str, str]:
    """The environment of every Tally process in the bench (and of this one)."""
    environment = {
        "DJANGO_SETTINGS_MODULE": "config.django.production",
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
        # Production settings require a /metrics token (the bench does not scrape it).
        "METRICS_TOKEN": "bench-only-metrics-token-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "CACHE_KEY_PREFIX": "tally-bench",
        "CELERY_QUEUE": "tally-bench",
        "GUNICORN_ACCESS_LOG": "0",
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_MIN_SIZE": "1",
        "DATABASE_POOL_MAX_SIZE": str(pool_max_size),
        # A shop's shipping fee and sales tax, so a paid order's split has every part.
        "ORDER_SHIPPING_FEE": "4.99",
        "ORDER_TAX_RATE_PERCENT": "8.25",
    }
    for route_class in ("MONEY", "WRITE", "READ", "LOGIN", "REGISTER"):
        environment[f"RATE_LIMIT_{route_class}"] = UNREACHABLE_RATE_LIMIT
    return environment


class Processes:
    """The web server and the Celery worker, each in its own process group."""

    def __init__(self, environment: dict[str, str], log_dir: Path) -> None:
        self.environment = {**os.environ, **environment}
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.children[name] = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env={**self.environment, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)

    def alive(self, name: str) -> bool:
        child = self.children.get(name)
        return child is not None and child.poll() is None


def web_argv(server: str, *, port: int, workers: int) -> list[str]:
    if server == "gunicorn":
        return [
            str(BIN_DIR / "gunicorn"),
            "-c",
            "config/gunicorn.py",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ]
    if server == "granian":
        return [
            str(BIN_DIR / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "config.wsgi:application",
        ]
    raise ValueError(f"unknown server {server!r}")


def wait_http_ok(url: str, processes: Processes, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        if not processes.alive(name):
            break
        time.sleep(0.3)
    log = processes.log_dir / f"{name}.log"
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"{name} did not come up at {url}:\n{tail}")


@contextlib.contextmanager
def web_running(
    processes: Processes, *, server: str, workers: int, port: int | None = None
) -> Iterator[str]:
    """Start the web server; yield its base URL; stop it."""
    port = port or free_port()
    processes.spawn("web", web_argv(server, port=port, workers=workers))
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health/live", processes, "web")
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop("web")


def _wait_listening(processes: Processes, name: str, port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline or processes.children[name].poll() is not None:
                raise RuntimeError(f"{name} did not start; see its log") from None
            time.sleep(0.2)


@contextlib.contextmanager
def provider_running(processes: Processes) -> Iterator[str]:
    """Start the provisioning provider simulator (its default latency and failure rate) and
    point the worker at it; yield its URL; stop it. The SSLCommerz sandbox starts next to it
    (SSLCOMMERZ_API_URL), for runs with PAYMENTS_CARD_GATEWAY=sslcommerz."""
    port = free_port()
    processes.spawn(
        "provider",
        [sys.executable, "-m", "tally.offers.provider_simulator"],
        extra_env={"OFFERS_PROVIDER_SIMULATOR_PORT": str(port)},
    )
    url = f"http://127.0.0.1:{port}"
    processes.environment["OFFERS_PROVIDER_URL"] = url
    sslcommerz_port = free_port()
    processes.spawn(
        "sslcommerz",
        [sys.executable, "-m", "tally.payments.sslcommerz_sandbox"],
        extra_env={"SSLCOMMERZ_SANDBOX_PORT": str(sslcommerz_port)},
    )
    processes.environment["SSLCOMMERZ_API_URL"] = f"http://127.0.0.1:{sslcommerz_port}"
    try:
        _wait_listening(processes, "provider", port)
        _wait_listening(processes, "sslcommerz", sslcommerz_port)
        yield url
    finally:
        processes.stop("sslcommerz")
        processes.stop("provider")


# Activations wait on the provider (I/O), so the worker runs a few processes.
WORKER_CONCURRENCY = 4


@contextlib.contextmanager
def worker_running(processes: Processes) -> Iterator[None]:
    schedule = BENCH_VAR_DIR / "celerybeat-schedule"
    processes.spawn(
        "worker",
        [
            str(BIN_DIR / "celery"),
            "-A",
            "config",
            "worker",
            "--beat",
            "-s",
            str(schedule),
            "-c",
            str(WORKER_CONCURRENCY),
            "-l",
            "WARNING",
            "-Q",
            "tally-bench",
        ],
    )
    try:
        yield
    finally:
        processes.stop("worker")
