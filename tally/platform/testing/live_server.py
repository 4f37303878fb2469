"""A real gunicorn (and, when asked, a real Celery worker) serving the pytest-django test
database, for tests that must cross process boundaries: concurrency through HTTP against
several web workers, or a worker running what a web request enqueued.

Use it from tests marked ``@pytest.mark.django_db(transaction=True)``: the servers are
other processes with their own connections, so they only see committed rows, and the
test's data must be flushed (not rolled back) afterwards::

    @pytest.mark.django_db(transaction=True)
    def test_sale_over_http() -> None:
        vendor = VendorFactory()
        with live_server_run(web_workers=3) as base_url:
            httpx.post(f"{base_url}/api/v1/...", headers=..., json=...)

A module-scoped fixture may keep one server for several tests (depend on
``django_db_setup`` so the test database exists and ``settings`` names it)::

    @pytest.fixture(scope="module")
    def base_url(django_db_setup: None) -> Iterator[str]:
        with live_server_run() as url:
            yield url

The servers run ``config.django.test`` with two values pinned to this test process's own:
the cache key prefix and the Celery queue (the test settings derive both from the process
id, so each gunicorn worker would otherwise pick its own and nothing it enqueued would
reach the worker started here, nor would this process see its cache entries).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

BASE_DIR = Path(__file__).resolve().parents[3]
BIN_DIR = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
_POLL_SECONDS = 0.2
_LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def current_database_url() -> str:
    """``DATABASE_URL`` of the database this test process uses now (the test database once
    pytest-django has set it up). A Unix socket directory host is percent-encoded, as the
    embedded servers write it: ``postgres://user@%2Fpath%2Fto%2Fdir/name``."""
    database = settings.DATABASES["default"]
    host = str(database.get("HOST") or "")
    if host.startswith("/"):
        host = quote(host, safe="")
    elif ":" in host:  # an IPv6 address
        host = f"[{host}]"
    user = quote(str(database.get("USER") or ""), safe="")
    password = str(database.get("PASSWORD") or "")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    port = str(database.get("PORT") or "")
    address = f"{host}:{port}" if port else host
    name = quote(str(database["NAME"]), safe="")
    return f"postgres://{credentials}@{address}/{name}"


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (the master and its children), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _wait_for_web(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{base_url}/health/live", timeout=2) as response,
        ):
            if response.status == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start at {base_url}:\n{_log_tail(log)}")
        time.sleep(_POLL_SECONDS)


def _wait_for_worker(process: subprocess.Popen[bytes], node_name: str, log: Path) -> None:
    from config.celery import app as celery_app

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if celery_app.control.ping(destination=[node_name], timeout=0.5):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"celery worker {node_name} did not start:\n{_log_tail(log)}")
        time.sleep(_POLL_SECONDS)


def _celery_worker_command(node_name: str, *pool_options: str) -> list[str]:
    """``celery worker`` consuming this test run's queue (``settings.CELERY_TASK_DEFAULT_QUEUE``)."""
    return [
        str(BIN_DIR / "celery"),
        "-A",
        "config",
        "worker",
        "-l",
        "WARNING",
        *pool_options,
        "-Q",
        str(settings.CELERY_TASK_DEFAULT_QUEUE),
        "-n",
        node_name,
        "--without-gossip",
        "--without-mingle",
    ]


@contextlib.contextmanager
def live_server_run(
    *,
    web_workers: int = 3,
    celery_worker: bool = False,
    celery_concurrency: int = 2,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve the test database with gunicorn on a free port; yield its base URL.

    ``web_workers`` (2-4) sync gunicorn workers run ``config.wsgi``. With ``celery_worker``,
    a Celery worker (prefork, ``celery_concurrency`` processes) also consumes this test
    run's queue (``settings.CELERY_TASK_DEFAULT_QUEUE``). Both run in their own process
    groups and are stopped (SIGTERM, then SIGKILL) when the block exits, even on error.
    ``extra_env`` adds to (or overrides) their environment, e.g. another ``DATABASE_URL``.
    """
    if not 2 <= web_workers <= 4:
        raise ValueError("web_workers must be between 2 and 4")
    workdir = Path(tempfile.mkdtemp(prefix="tally-live-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        # The test settings; TALLY_TEST_RUN_ID (inherited) gives the same queue and cache prefix.
        "DJANGO_SETTINGS_MODULE": "config.django.test",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(web_workers),
        "GUNICORN_ACCESS_LOG": "0",
        **(extra_env or {}),
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        web_log = workdir / "gunicorn.log"
        with web_log.open("wb") as out:
            web = subprocess.Popen(
                [
                    str(BIN_DIR / "gunicorn"),
                    "-c",
                    "config/gunicorn.py",
                    "config.wsgi:application",
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(web)
        if celery_worker:
            node_name = f"live-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
            worker_log = workdir / "celery.log"
            with worker_log.open("wb") as out:
                worker = subprocess.Popen(
                    _celery_worker_command(node_name, "-c", str(celery_concurrency)),
                    cwd=BASE_DIR,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            processes.append(worker)
        _wait_for_web(web, base_url, web_log)
        if celery_worker:
            _wait_for_worker(processes[-1], node_name, worker_log)
        yield base_url
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


class WorkerProcess:
    """A Celery worker process started by :func:`celery_worker_run`."""

    def __init__(self, process: subprocess.Popen[bytes], node_name: str, log: Path) -> None:
        self.process = process
        self.node_name = node_name
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the worker (its whole process group) at once, as a crash would: no
        acknowledgement, no clean-up, its database connections dropped mid-way."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def log_tail(self) -> str:
        return _log_tail(self.log)


@contextlib.contextmanager
def celery_worker_run(
    *, include: tuple[str, ...] = (), extra_env: dict[str, str] | None = None
) -> Iterator[WorkerProcess]:
    """A real Celery worker process (solo pool: one task at a time, in the process itself)
    consuming this test run's queue, against the test database; stopped on exit.

    ``include`` names extra modules for the worker to import (tasks defined in tests).
    Use ``.kill()`` to crash it at a chosen moment, then start another one.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tally-worker-"))
    node_name = f"worker-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    log = workdir / "celery.log"
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "DJANGO_SETTINGS_MODULE": "config.django.test",
        **(extra_env or {}),
    }
    command = _celery_worker_command(node_name, "-P", "solo")
    if include:
        command += ["-I", ",".join(include)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProcess(process, node_name, log)
    try:
        _wait_for_worker(process, node_name, log)
        yield worker
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
