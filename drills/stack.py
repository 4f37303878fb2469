"""The drills' Tally: production settings on embedded PostgreSQL and Redis of its own.

The drills stop and restart the servers, so they never use the machine's services nor the
ones ``make run`` or the bench use: PostgreSQL and Redis are embedded ones under
``var/drills/`` (``DRILLS_VAR_DIR``), in a fresh database each run. Web (gunicorn, three
workers), one Celery worker with beat, the provider simulator and the SSLCommerz sandbox run
as the bench runs them (bench/stack.py); the timings an operator would tune for a quick
recovery (outbox sweep, gateway reconcile) are set short so a drill ends in minutes.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from bench.stack import (
    BASE_DIR,
    BIN_DIR,
    Processes,
    Services,
    django_environment,
    wait_http_ok,
    web_argv,
)
from tally.platform.testing.live_server import free_port

VAR_DIR = Path(os.environ.get("DRILLS_VAR_DIR", BASE_DIR / "var" / "drills")).resolve()
DATABASE = "tally_drills"
QUEUE = "tally-drills"
WEB_WORKERS = 3
WORKER_CONCURRENCY = 4
# How quickly the worker notices work left behind: the outbox sweep runs every two seconds
# and republishes what is five seconds old; a card payment with no answer is asked about
# after ten. Production defaults are 30, 60 and 300 seconds (docs/operations.md).
FAST_RECOVERY = {
    "OUTBOX_SWEEP_INTERVAL_SECONDS": "2",
    "OUTBOX_REPUBLISH_AFTER_SECONDS": "5",
    "PAYMENTS_RECONCILE_AFTER_SECONDS": "10",
    "OFFERS_PROVIDER_TIMEOUT_SECONDS": "5",
    "OFFERS_PROVIDER_RETRY_BASE_SECONDS": "0.5",
    "OFFERS_PROVIDER_RETRY_MAX_SECONDS": "5",
    "PAYMENTS_GATEWAY_TIMEOUT_SECONDS": "5",
    "PAYMENTS_GATEWAY_RETRY_BASE_SECONDS": "0.5",
    "PAYMENTS_GATEWAY_RETRY_MAX_SECONDS": "5",
    "INVOICE_RENDER_RETRY_SECONDS": "1",
    "NOTIFICATIONS_EMAIL_RETRY_SECONDS": "2",
}


def _admin_url(socket_dir_url: str) -> str:
    return socket_dir_url.rsplit("/", 1)[0] + "/postgres"


@dataclass
class Stack:
    """A running Tally and the levers to break it."""

    services: Services
    processes: Processes
    web_port: int
    sandbox_url: str = ""
    faults: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # --- the web server ---------------------------------------------------------------

    def web_start(self) -> None:
        self.processes.spawn("web", web_argv("gunicorn", port=self.web_port, workers=WEB_WORKERS))
        wait_http_ok(f"{self.base_url}/health/live", self.processes, "web")

    def web_worker_pids(self) -> list[int]:
        master = self.processes.children["web"].pid
        children = Path(f"/proc/{master}/task/{master}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def web_worker_kill(self) -> int:
        """SIGKILL one gunicorn worker (the master starts another)."""
        pids = self.web_worker_pids()
        if not pids:
            return 0
        victim = random.choice(pids)
        os.kill(victim, signal.SIGKILL)
        self.faults.append(f"kill -9 web worker {victim}")
        return victim

    # --- the Celery worker ------------------------------------------------------------

    def worker_start(self) -> None:
        self.processes.spawn(
            "worker",
            [
                str(BIN_DIR / "celery"),
                "-A", "config", "worker", "--beat",
                "-s", str(VAR_DIR / "celerybeat-schedule"),
                "-c", str(WORKER_CONCURRENCY),
                "-l", "WARNING",
                "-Q", QUEUE,
            ],
        )  # fmt: skip

    def worker_kill(self) -> None:
        """SIGKILL the worker, its pool and its beat at once: jobs die mid-flight."""
        child = self.processes.children.pop("worker")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        self.faults.append("kill -9 Celery worker")

    def worker_stop(self) -> None:
        self.processes.stop("worker")

    # --- PostgreSQL and Redis ---------------------------------------------------------

    def postgres_stop(self) -> None:
        from tally.platform.embedded import stop_postgres

        stop_postgres(VAR_DIR / "postgres")
        self.faults.append("PostgreSQL stopped")

    def postgres_start(self) -> None:
        from tally.platform.embedded import ensure_servers

        ensure_servers(VAR_DIR, stop_at_exit=False)
        self.faults.append("PostgreSQL started")

    def redis_stop(self) -> None:
        from tally.platform.embedded import stop_redis

        stop_redis(VAR_DIR / "redis")
        self.faults.append("Redis stopped")

    def redis_start(self) -> None:
        from tally.platform.embedded import ensure_servers

        servers = ensure_servers(VAR_DIR, stop_at_exit=False)
        if servers.redis_url != self.services.redis_url:
            raise RuntimeError(f"Redis came back elsewhere: {servers.redis_url}")
        self.faults.append("Redis started")

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.services.redis_url)


@contextlib.contextmanager
def stack_running() -> Iterator[Stack]:
    """Start everything (fresh database, migrated); yield the stack; stop everything."""
    from tally.platform.embedded import ensure_servers, stop_servers

    servers = ensure_servers(VAR_DIR, stop_at_exit=False)
    admin_url = _admin_url(servers.database_url)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    services = Services(
        server_url=servers.database_url,
        database_url=servers.database_url.rsplit("/", 1)[0] + f"/{DATABASE}",
        redis_url=servers.redis_url,
        embedded=True,
    )
    redis.Redis.from_url(services.redis_url).flushdb()
    web_port = free_port()
    environment = django_environment(services, pool_max_size=4)
    environment.update(FAST_RECOVERY)
    environment.update(
        {
            "CACHE_KEY_PREFIX": "tally-drills",
            "CELERY_QUEUE": QUEUE,
            "JWT_ACCESS_MINUTES": "240",
            "PAYMENTS_CARD_GATEWAY": "sslcommerz",
            "SSLCOMMERZ_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
            # The provider at 50 ms, failing one call in twenty (retried), refusing none.
            "OFFERS_PROVIDER_SIMULATOR_LATENCY_MS": "50",
        }
    )
    os.environ.update(environment)
    import django

    django.setup()
    from django.conf import settings

    # This process (seeding, checks) connects afresh each time: a pooled connection would
    # outlive the PostgreSQL restarts it causes.
    settings.DATABASES["default"]["OPTIONS"].pop("pool", None)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    processes = Processes(environment, VAR_DIR / "logs")
    stack = Stack(services=services, processes=processes, web_port=web_port)
    try:
        _outside_systems_start(stack)
        stack.worker_start()
        stack.web_start()
        yield stack
    finally:
        processes.stop_all()
        from django.db import connections

        connections.close_all()
        if os.environ.get("DRILLS_KEEP_SERVERS") != "1":
            stop_servers(VAR_DIR)


def _outside_systems_start(stack: Stack) -> None:
    """The provider simulator, the SSLCommerz sandbox and a mail server, as separate
    processes."""
    from bench.stack import _wait_listening

    processes = stack.processes
    provider_port, sandbox_port = free_port(), free_port()
    processes.spawn(
        "provider",
        [str(BIN_DIR / "python"), "-m", "tally.offers.provider_simulator"],
        extra_env={"OFFERS_PROVIDER_SIMULATOR_PORT": str(provider_port)},
    )
    processes.spawn(
        "sslcommerz",
        [str(BIN_DIR / "python"), "-m", "tally.payments.sslcommerz_sandbox"],
        extra_env={"SSLCOMMERZ_SANDBOX_PORT": str(sandbox_port)},
    )
    # Customers' emails (order confirmations, invoices) go to a real SMTP server that keeps
    # nothing, as a mail relay would take them.
    smtp_port = free_port()
    processes.spawn(
        "smtp",
        [
            str(BIN_DIR / "python"), "-m", "aiosmtpd", "-n",
            "-l", f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Sink",
        ],
    )  # fmt: skip
    _wait_listening(processes, "provider", provider_port)
    _wait_listening(processes, "sslcommerz", sandbox_port)
    _wait_listening(processes, "smtp", smtp_port)
    processes.environment["EMAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    processes.environment["OFFERS_PROVIDER_URL"] = f"http://127.0.0.1:{provider_port}"
    stack.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    processes.environment["SSLCOMMERZ_API_URL"] = stack.sandbox_url
