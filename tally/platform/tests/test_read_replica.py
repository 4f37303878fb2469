"""Statements read a real PostgreSQL streaming replica; balances read the primary.

A primary and a hot standby (``pg_basebackup -R -X stream``) are started from PostgreSQL's
own binaries (Debian's ``/usr/lib/postgresql/*/bin`` or the ones the embedded ``pgserver``
package ships), Tally is migrated on the primary, and a live gunicorn serves it with
``DATABASE_URL`` on the primary and ``DATABASE_REPLICA_URL`` on the standby. Pausing WAL
replay on the standby freezes what it serves, which tells apart, through the API alone,
what is read where. Without the binaries these tests are skipped and say so, unless
``DEPLOY_TESTS_REQUIRED=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from tally.platform.db import PrimaryRouter, read_replica
from tally.platform.testing.live_server import BASE_DIR, free_port, live_server_run

BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
COMMAND_TIMEOUT_SECONDS = 300
REPLAY_TIMEOUT_SECONDS = 20.0
# The vendor, its API key and its starting credit, made on the primary by a Django shell.
SEED_SCRIPT = """
import json
from tally.credit.testing import vendor_fund
from tally.identity.services import api_key_create
from tally.identity.tests.factories import VendorFactory
vendors = []
for _ in range(3):
    vendor = VendorFactory()
    vendor_fund(vendor, 100_00)
    key = api_key_create(user=vendor.user, name="replica").key
    vendors.append({"id": str(vendor.user_id), "key": key})
print(json.dumps(vendors))
"""


def postgres_binaries() -> Path | None:
    """A folder with PostgreSQL's server binaries: Debian's newest, else pgserver's."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for folder in candidates:
        if all((folder / binary).is_file() for binary in BINARIES):
            return folder
    return None


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as a system user that exists."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    return None


@dataclass
class Cluster:
    """One PostgreSQL server (primary or standby) in ``data``, listening on 127.0.0.1."""

    name: str
    data: Path
    port: int

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def url(self, database: str = "tally") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "tally") -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def scalar(self, sql: str, params: tuple[Any, ...] = (), database: str = "tally") -> Any:
        with self.connect(database) as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else row[0]


@dataclass
class Replicated:
    primary: Cluster
    standby: Cluster
    base_url: str
    vendors: list[dict[str, str]]
    binaries: Path
    user: str | None  # the system user the servers run as


def _run(argv: list[str], *, user: str | None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # noqa: S603 -- local binaries, fixed arguments
        argv,
        user=user,
        env=env,
        cwd=BASE_DIR if env is not None else None,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def _wait(condition: Callable[[], bool], *, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(psycopg.Error):
            if condition():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def _start(binaries: Path, cluster: Cluster, *, user: str | None) -> None:
    _run(
        [str(binaries / "pg_ctl"), "-D", str(cluster.data), "-l", str(cluster.log), "-w",
         "-t", "120", "start"],
        user=user,
    )  # fmt: skip


def _stop(binaries: Path, cluster: Cluster, *, user: str | None) -> None:
    """Stop the server if it runs (fast shutdown, immediate if that hangs)."""
    if not (cluster.data / "postmaster.pid").exists():
        return
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(cluster.data), "-w", "-t", "30", "stop"]
    try:
        _run([*pg_ctl, "-m", "fast"], user=user)
    except (RuntimeError, subprocess.TimeoutExpired):
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _run([*pg_ctl, "-m", "immediate"], user=user)


def _django_env(primary: Cluster, run_id: str) -> dict[str, str]:
    """A Django process on the primary, with its own cache namespace and queue (the new
    database's account ids must not meet the test database's cached balances)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.django.test",
        "DATABASE_URL": primary.url(),
        "TALLY_TEST_RUN_ID": run_id,
    }
    env.pop("DATABASE_REPLICA_URL", None)
    return env


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    binaries = postgres_binaries()
    if binaries is None:
        message = "no PostgreSQL server binaries (initdb, pg_basebackup) found"
        if os.environ.get("DEPLOY_TESTS_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    user = _server_user()
    workdir = Path(tempfile.mkdtemp(prefix="tally-replica-"))
    workdir.chmod(0o755)
    if user is not None:
        shutil.chown(workdir, user=user)
    primary = Cluster("primary", workdir / "primary", free_port())
    standby = Cluster("standby", workdir / "standby", free_port())
    try:
        # The primary: WAL for a streaming standby, replication connections trusted on loopback.
        _run(
            [str(binaries / "initdb"), "-D", str(primary.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            user=user,
        )  # fmt: skip
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                f"port = {primary.port}\n"
                "unix_socket_directories = ''\n"
                "wal_level = replica\n"
                "max_wal_senders = 4\n"
                "hot_standby = on\n"
                "fsync = off\n"
            )
        with (primary.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        _start(binaries, primary, user=user)
        with primary.connect("postgres") as conn:
            conn.execute("CREATE DATABASE tally")

        # The standby: a base backup that streams the primary's WAL (-R writes the
        # primary_conninfo and standby.signal), on its own port.
        _run(
            [str(binaries / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
             "-U", "postgres", "-D", str(standby.data), "-R", "-X", "stream",
             "--checkpoint=fast", "--no-sync"],
            user=user,
        )  # fmt: skip
        with (standby.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {standby.port}\n")
        _start(binaries, standby, user=user)
        _wait(
            lambda: (
                primary.scalar("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
                == 1
            ),
            what="the standby streaming from the primary",
        )
        assert standby.scalar("SELECT pg_is_in_recovery()") is True

        # Tally's schema and a vendor, written on the primary only.
        run_id = f"replica-{uuid.uuid4().hex[:8]}"
        env = _django_env(primary, run_id)
        python = sys.executable
        _run([python, "manage.py", "migrate", "--no-input", "-v", "0"], user=None, env=env)
        output = _run([python, "manage.py", "shell", "-c", SEED_SCRIPT], user=None, env=env)
        vendors = json.loads(output.strip().splitlines()[-1])

        with live_server_run(
            web_workers=2,
            extra_env={
                "DATABASE_URL": primary.url(),
                "DATABASE_REPLICA_URL": standby.url(),
                "TALLY_TEST_RUN_ID": run_id,
            },
        ) as base_url:
            yield Replicated(primary, standby, base_url, vendors, binaries, user)
    finally:
        _stop(binaries, standby, user=user)
        _stop(binaries, primary, user=user)
        shutil.rmtree(workdir, ignore_errors=True)


def _headers(vendor: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Api-Key {vendor['key']}"}


def _sell(replicated: Replicated, vendor: dict[str, str], amount: str) -> dict[str, Any]:
    response = httpx.post(
        f"{replicated.base_url}/api/v1/vendors/{vendor['id']}/charges/",
        headers=_headers(vendor),
        json={"phone_number": "+14155550100", "amount": amount},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _available(replicated: Replicated, vendor: dict[str, str]) -> str:
    response = httpx.get(
        f"{replicated.base_url}/api/v1/vendors/{vendor['id']}/balance/",
        headers=_headers(vendor),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["available"])


def _statement_response(replicated: Replicated, vendor: dict[str, str]) -> httpx.Response:
    return httpx.get(
        f"{replicated.base_url}/api/v1/vendors/{vendor['id']}/transactions/",
        headers=_headers(vendor),
        timeout=30,
    )


def _statement(replicated: Replicated, vendor: dict[str, str]) -> list[str]:
    """The statement's ``balance_after`` column, newest first."""
    response = _statement_response(replicated, vendor)
    assert response.status_code == 200, response.text
    return [entry["balance_after"] for entry in response.json()["results"]]


def _statement_becomes(
    replicated: Replicated, vendor: dict[str, str], expected: list[str]
) -> list[str]:
    deadline = time.monotonic() + REPLAY_TIMEOUT_SECONDS
    while (seen := _statement(replicated, vendor)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen


@contextlib.contextmanager
def _replay_paused(standby: Cluster) -> Iterator[None]:
    """WAL replay paused on the standby (it keeps receiving, applies nothing), resumed on
    exit even on failure."""
    standby.scalar("SELECT pg_wal_replay_pause()")
    try:
        _wait(
            lambda: standby.scalar("SELECT pg_get_wal_replay_pause_state()") == "paused",
            what="replay paused on the standby",
        )
        yield
    finally:
        standby.scalar("SELECT pg_wal_replay_resume()")


def test_a_sale_is_in_the_balance_at_once_and_in_the_statement_once_replayed(
    replicated: Replicated,
) -> None:
    # given: a vendor with 100.00, its statement already on the standby
    vendor = replicated.vendors[0]
    assert _statement_becomes(replicated, vendor, ["100.00"]) == ["100.00"]
    # when
    sale = _sell(replicated, vendor, "30.00")
    # then: the seller's own balance has it at once (the primary), the statement once the
    # standby has replayed it
    assert sale["remaining_credit"] == "70.00"
    assert _available(replicated, vendor) == "70.00"
    assert _statement_becomes(replicated, vendor, ["70.00", "100.00"]) == ["70.00", "100.00"]


def test_with_replay_paused_the_statement_lags_and_the_balance_does_not(
    replicated: Replicated,
) -> None:
    # given: a vendor with 100.00 whose statement the standby serves
    vendor = replicated.vendors[1]
    assert _statement_becomes(replicated, vendor, ["100.00"]) == ["100.00"]
    with _replay_paused(replicated.standby):
        # when: a sale while the standby applies nothing
        sale = _sell(replicated, vendor, "20.00")
        # then: the primary has it and the balance reads it; the statement, read from the
        # standby, does not show it yet
        assert sale["remaining_credit"] == "80.00"
        assert _available(replicated, vendor) == "80.00"
        sold = "SELECT count(*) FROM topups_chargesale WHERE vendor_id = %s"
        assert replicated.primary.scalar(sold, (vendor["id"],)) == 1
        assert replicated.standby.scalar(sold, (vendor["id"],)) == 0
        time.sleep(1.0)  # well past any replay delay, had replay not been paused
        assert _statement(replicated, vendor) == ["100.00"]
    # then: once replay resumes, the statement catches up
    assert _statement_becomes(replicated, vendor, ["80.00", "100.00"]) == ["80.00", "100.00"]
    assert _available(replicated, vendor) == "80.00"


def test_with_the_replica_down_statements_answer_503_and_sales_and_balances_carry_on(
    replicated: Replicated,
) -> None:
    # given: a vendor with 100.00, and the standby stopped
    vendor = replicated.vendors[2]
    assert _statement_becomes(replicated, vendor, ["100.00"]) == ["100.00"]
    _stop(replicated.binaries, replicated.standby, user=replicated.user)
    try:
        # when
        sale = _sell(replicated, vendor, "10.00")
        statement = _statement_response(replicated, vendor)
        # then: money and balances never depend on the replica; the statement is a clean 503
        assert sale["remaining_credit"] == "90.00"
        assert _available(replicated, vendor) == "90.00"
        assert statement.status_code == 503, statement.text
        assert statement.json()["code"] == "service_unavailable"
    finally:
        _start(replicated.binaries, replicated.standby, user=replicated.user)
    # then: back up, it serves the statement again at once (each web worker's pool replaces
    # the connections the stop broke)
    assert [_statement_response(replicated, vendor).status_code for _ in range(6)] == [200] * 6
    assert _statement_becomes(replicated, vendor, ["90.00", "100.00"]) == ["90.00", "100.00"]


# --- without a replica -------------------------------------------------------------------


def test_without_a_replica_url_every_read_is_on_the_primary() -> None:
    # given: this test run's settings (no DATABASE_REPLICA_URL)
    assert "replica" not in connections.settings
    # then
    assert read_replica() == DEFAULT_DB_ALIAS


def test_the_replica_setting_adds_a_mirrored_alias_with_its_own_pool() -> None:
    # given: the settings loaded with a replica URL
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([settings.DATABASES, settings.DATABASE_ROUTERS], default=str))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.django.test",
        "DATABASE_REPLICA_URL": "postgres://reader@replica.internal:5433/tally",
    }
    # when
    output = _run([sys.executable, "-c", script], user=None, env=env)
    databases, routers = json.loads(output.strip().splitlines()[-1])
    # then: the standby's address, the primary's engine and options, a pool of its own,
    # and tests mirror it onto the test database
    replica, default = databases["replica"], databases["default"]
    assert (replica["HOST"], replica["PORT"], replica["USER"], replica["NAME"]) == (
        "replica.internal",
        5433,
        "reader",
        "tally",
    )
    assert replica["ENGINE"] == default["ENGINE"]
    assert replica["OPTIONS"]["prepare_threshold"] == default["OPTIONS"]["prepare_threshold"]
    assert replica["OPTIONS"]["pool"]["min_size"] == 1
    assert replica["CONN_HEALTH_CHECKS"] is True
    assert replica["TEST"]["MIRROR"] == "default"
    assert routers == ["tally.platform.db.PrimaryRouter"]


def test_without_a_replica_no_router_is_installed() -> None:
    # then: routing stays Django's default (one database), nothing added on the hot path
    assert settings.DATABASE_ROUTERS == []


def _with_replica() -> dict[str, Any]:
    """This run's databases plus a replica alias (mirroring the test database)."""
    default = connections.settings[DEFAULT_DB_ALIAS]
    return {DEFAULT_DB_ALIAS: default, "replica": {**default, "TEST": {"MIRROR": "default"}}}


def test_with_a_replica_a_read_outside_a_transaction_may_use_it() -> None:
    # given: a replica configured, no transaction open
    with _databases(_with_replica()):
        # then
        assert not connections[DEFAULT_DB_ALIAS].in_atomic_block
        assert read_replica() == "replica"


@pytest.mark.django_db
def test_with_a_replica_a_read_inside_a_transaction_stays_on_the_primary() -> None:
    # given: a replica configured, and the test's transaction open
    with _databases(_with_replica()):
        # then: a read in a transaction must see that transaction's writes
        assert connections[DEFAULT_DB_ALIAS].in_atomic_block
        assert read_replica() == DEFAULT_DB_ALIAS
        with transaction.atomic():
            assert read_replica() == DEFAULT_DB_ALIAS


def test_the_router_writes_and_migrates_only_the_primary() -> None:
    router = PrimaryRouter()
    assert router.db_for_write(object) == DEFAULT_DB_ALIAS
    assert router.db_for_read(object) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "ledger") is True
    assert router.allow_migrate("replica", "ledger") is False


@contextlib.contextmanager
def _databases(databases: dict[str, Any]) -> Iterator[None]:
    """``connections`` configured with ``databases`` for the block (no connection opened)."""
    saved = connections.settings
    connections.settings = connections.configure_settings(databases)
    try:
        yield
    finally:
        connections.settings = saved
