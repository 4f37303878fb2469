"""The deployed shape of Tally, run for real on this machine: three gunicorn replicas started
by the image's entrypoint with the production settings, behind HAProxy running
deploy/haproxy/haproxy.cfg (TLS, X-Forwarded-For, health checks), reaching PostgreSQL through
PgBouncer in transaction mode, with a Celery worker started the same way.

What only the containers add (images, DNS names, volumes) is checked statically in
test_deploy_files.py. HAProxy and PgBouncer come from Debian (``apt-get install haproxy
pgbouncer``); without them these tests are skipped and say so, unless
``DEPLOY_TESTS_REQUIRED=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from prometheus_client.parser import text_string_to_metric_families

from tally.credit.testing import vendor_fund
from tally.identity.models import User
from tally.identity.services import api_key_create
from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.ledger.testing import assert_ledger_verifies
from tally.offers.provider_simulator import provider_simulator_run
from tally.offers.testing import customer_fund, offer_make, wallet_position
from tally.platform.testing.deploy import (
    BASE_DIR,
    ENTRYPOINT,
    HAPROXY_FILE,
    code_metric_families,
    dashboard_expressions,
    dashboards,
    expression_metric_names,
    metric_family,
)
from tally.platform.testing.live_server import free_port
from tally.topups.models import ChargeSale

pytestmark = pytest.mark.django_db(transaction=True)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
REPLICAS = 3
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0
PASSWORD = "a-long-admin-password-for-the-stack"
REGISTER_LIMIT = 2


@dataclass
class Stack:
    url: str  # HTTPS through HAProxy
    plain_url: str  # plain HTTP through HAProxy
    stats_url: str  # HAProxy's Prometheus exporter
    replicas: dict[str, str]  # name -> direct http://127.0.0.1:port
    logs: dict[str, Path]  # name -> gunicorn's log (access lines carry the request id)
    metrics_token: str
    pgbouncer_port: int
    worker_metrics_url: str  # the Celery worker's own /metrics (WORKER_METRICS_BIND)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(self, *, source_address: str = "127.0.0.1") -> httpx.Client:
        """A client of the load balancer, connecting from ``source_address`` (any
        127.0.0.0/8 address is this machine's, so a test can be several clients)."""
        # The certificate is self-signed, made for this run.
        transport = httpx.HTTPTransport(verify=False, local_address=source_address)  # nosec B501  # a self-signed certificate made for this test
        return httpx.Client(base_url=self.url, transport=transport, timeout=30)

    def served_by(self, request_id: str) -> str:
        """The replica whose access log has this request id (waits for the line)."""
        needle = f'"request_id":"{request_id}"'
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [name for name, log in self.logs.items() if needle in log.read_text()]
            if found:
                assert len(found) == 1, found
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no replica logged request {request_id}")


def _stop(process: subprocess.Popen[bytes]) -> None:
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


def _spawn(argv: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 -- fixed local commands
            argv,
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait(
    condition: Any, *, what: str, processes: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
            raise RuntimeError(f"{what} did not come up:\n{tails}")
        time.sleep(0.3)


def _pgbouncer_user() -> list[str]:
    """PgBouncer refuses to run as root: as root, run it as the user that can reach the
    database (the embedded server's socket directory belongs to the server's user)."""
    if os.geteuid() != 0:
        return []
    host = str(settings.DATABASES["default"].get("HOST") or "")
    if host.startswith("/"):
        return ["-u", Path(host).owner()]
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return ["-u", "nobody"]
    return ["-u", "postgres"]


def _pgbouncer_config(workdir: Path, *, port: int) -> Path:
    """Transaction pooling in front of the test database, as docker-compose.yml's PgBouncer."""
    database = settings.DATABASES["default"]
    host = str(database.get("HOST") or "127.0.0.1")
    user = str(database.get("USER") or "postgres")
    (workdir / "userlist.txt").write_text(f'"{user}" "{database.get("PASSWORD") or ""}"\n')
    password = f" password={database['PASSWORD']}" if database.get("PASSWORD") else ""
    config = workdir / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={host} port={database.get('PORT') or 5432} user={user}{password}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        # Loopback only, for this test; compose's PgBouncer uses scram-sha-256.
        "auth_type = trust\n"
        f"auth_file = {workdir / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 200\n"
        "default_pool_size = 20\n"
        f"admin_users = {user}\n"
    )
    return config


@pytest.fixture(scope="module")
def stack(django_db_setup: None) -> Iterator[Stack]:
    missing = [binary for binary in (HAPROXY, PGBOUNCER, OPENSSL) if not Path(binary).exists()]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install haproxy pgbouncer)"
        # Where they are required (CI sets DEPLOY_TESTS_REQUIRED=1), a missing one is a broken
        # setup, not a reason to skip.
        if os.environ.get("DEPLOY_TESTS_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    workdir = Path(tempfile.mkdtemp(prefix="tally-stack-"))
    workdir.chmod(0o755)
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    # The provisioning provider activations call, in this process (the worker reaches it
    # over loopback HTTP).
    provider_run = provider_simulator_run(latency_ms=0, failure_rate=0.0, reject_rate=0.0)
    provider = provider_run.__enter__()
    try:
        # PgBouncer, which refuses to run as root.
        bouncer_port = free_port()
        config = _pgbouncer_config(workdir, port=bouncer_port)
        as_user = _pgbouncer_user()
        bouncer_log = workdir / "pgbouncer.log"
        processes.append(
            _spawn([PGBOUNCER, *as_user, str(config)], env=dict(os.environ), log=bouncer_log)
        )
        logs.append(bouncer_log)

        # The replicas: the image's entrypoint, the image's environment, production settings.
        metrics_token = secrets.token_urlsafe(32)
        database_name = settings.DATABASES["default"]["NAME"]
        common = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.django.production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "METRICS_TOKEN": metrics_token,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"postgres://{settings.DATABASES['default'].get('USER') or 'postgres'}"
            f"@127.0.0.1:{bouncer_port}/{database_name}",
            "DATABASE_DISABLE_SERVER_SIDE_CURSORS": "true",
            # Debian's PgBouncer (1.18) predates prepared statements in transaction mode
            # (1.21; compose runs 1.25 with max_prepared_statements): psycopg prepares none.
            "DATABASE_PREPARE_THRESHOLD": "off",
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "4",
            "REDIS_URL": settings.REDIS_URL,
            # This test run's cache namespace and queue (config/django/test.py).
            "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "TRUSTED_PROXY_COUNT": "1",
            "RATE_LIMIT_REGISTER": f"{REGISTER_LIMIT}/hour",
            "WEB_CONCURRENCY": "2",
            "WORKER_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
            "OFFERS_PROVIDER_URL": provider.url,
            "OFFERS_PROVIDER_RETRY_BASE_SECONDS": "0.1",
        }
        replicas: dict[str, str] = {}
        replica_logs: dict[str, Path] = {}
        for index in range(1, REPLICAS + 1):
            name, port = f"web{index}", free_port()
            log = workdir / f"{name}.log"
            env = {
                **common,
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "TALLY_VAR_DIR": str(workdir / name),
                "PROMETHEUS_MULTIPROC_DIR": str(workdir / name / "prometheus"),
            }
            processes.append(_spawn([str(ENTRYPOINT), "web"], env=env, log=log))
            replicas[name], replica_logs[name] = f"http://127.0.0.1:{port}", log
            logs.append(log)
        worker_log = workdir / "worker.log"
        worker_metrics_port = free_port()
        processes.append(
            _spawn(
                [str(ENTRYPOINT), "worker"],
                env={
                    **common,
                    "TALLY_VAR_DIR": str(workdir / "worker"),
                    "WORKER_METRICS_BIND": f"127.0.0.1:{worker_metrics_port}",
                    "PROMETHEUS_MULTIPROC_DIR": str(workdir / "worker" / "prometheus"),
                },
                log=worker_log,
            )
        )
        logs.append(worker_log)

        # HAProxy with the shipped configuration and a certificate made for this run.
        certificate = workdir / "tally.pem"
        subprocess.run(  # noqa: S603 -- fixed arguments
            [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", str(workdir / "key.pem"),
             "-out", str(workdir / "cert.pem")],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        certificate.write_text(
            (workdir / "cert.pem").read_text() + (workdir / "key.pem").read_text()
        )
        http_port, https_port, stats_port = free_port(), free_port(), free_port()
        lb_env = {
            **os.environ,
            "TALLY_LB_HTTP_BIND": f"127.0.0.1:{http_port}",
            "TALLY_LB_HTTPS_BIND": f"127.0.0.1:{https_port}",
            "TALLY_LB_CERT": str(certificate),
            "TALLY_LB_STATS_BIND": f"127.0.0.1:{stats_port}",
            "TALLY_LB_ERRORS": str(HAPROXY_FILE.parent / "errors"),
            **{f"TALLY_WEB{i}": replicas[f"web{i}"].removeprefix("http://") for i in range(1, 4)},
        }
        haproxy_log = workdir / "haproxy.log"
        processes.append(
            _spawn([HAPROXY, "-db", "-f", str(HAPROXY_FILE)], env=lb_env, log=haproxy_log)
        )
        logs.append(haproxy_log)
        stats_url = f"http://127.0.0.1:{stats_port}"

        def all_replicas_in_rotation() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                page = httpx.get(f"{stats_url}/metrics", timeout=2).text
                return bool(
                    re.search(
                        rf'^haproxy_backend_active_servers\{{proxy="web"\}} {REPLICAS}$', page, re.M
                    )
                )
            return False

        _wait(
            all_replicas_in_rotation,
            what="the replicas behind HAProxy",
            processes=processes,
            logs=logs,
        )
        # Each gunicorn worker loads Tally's URLs and views on its first request, which takes
        # seconds on a busy machine: do it now, not under a test's health checks.
        for url in replicas.values():
            for _ in range(6):
                httpx.get(
                    f"{url}/api/v1/offers/", headers={"X-Forwarded-Proto": "https"}, timeout=60
                )
        _wait(
            all_replicas_in_rotation,
            what="the replicas, warm",
            processes=processes,
            logs=logs,
        )
        yield Stack(
            url=f"https://127.0.0.1:{https_port}",
            plain_url=f"http://127.0.0.1:{http_port}",
            stats_url=stats_url,
            replicas=replicas,
            logs=replica_logs,
            metrics_token=metrics_token,
            pgbouncer_port=bouncer_port,
            worker_metrics_url=f"http://127.0.0.1:{worker_metrics_port}/metrics",
            processes=processes,
        )
    finally:
        for process in reversed(processes):
            _stop(process)
        provider_run.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)


def api_key_headers(user: User) -> dict[str, str]:
    return {"Authorization": f"Api-Key {api_key_create(user=user, name='stack').key}"}


def login_headers(client: httpx.Client, user: User) -> dict[str, str]:
    """``user`` signed in through the load balancer (its password hashed as production hashes
    it: the test settings' fast hasher is not among production's)."""
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, secrets.token_hex(8))
    user.save(update_fields=["password"])
    response = client.post("/api/v1/auth/login/", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access']}"}


def request_id() -> dict[str, str]:
    return {"X-Request-ID": uuid.uuid4().hex}


def test_a_sale_on_one_replica_is_seen_by_a_balance_read_on_another(stack: Stack) -> None:
    # given: a vendor with 100.00 of credit and its machine client's API key
    vendor = VendorFactory()
    vendor_fund(vendor, 100_00)
    headers = api_key_headers(vendor.user)
    base = f"/api/v1/vendors/{vendor.user_id}"
    with stack.client() as client:
        # when: a sale, then a balance read, each through the load balancer
        sale_id, read_id = request_id(), request_id()
        sale = client.post(f"{base}/charges/", headers={**headers, **sale_id},
                           json={"phone_number": "+14155550100", "amount": "30.00"})  # fmt: skip
        balance = client.get(f"{base}/balance/", headers={**headers, **read_id})
    # then: two replicas answered, and the second saw the first's write at once
    assert sale.status_code == 201, sale.text
    assert sale.json()["remaining_credit"] == "70.00"
    assert balance.status_code == 200, balance.text
    assert balance.json()["available"] == "70.00"
    assert stack.served_by(sale_id["X-Request-ID"]) != stack.served_by(read_id["X-Request-ID"])
    assert ChargeSale.objects.filter(vendor=vendor).count() == 1
    assert_ledger_verifies()


def test_an_idempotent_replay_on_another_replica_answers_the_stored_sale(stack: Stack) -> None:
    # given
    vendor = VendorFactory()
    vendor_fund(vendor, 100_00)
    headers = {**api_key_headers(vendor.user), "Idempotency-Key": uuid.uuid4().hex}
    url = f"/api/v1/vendors/{vendor.user_id}/charges/"
    body = {"phone_number": "+14155550101", "amount": "25.00"}
    with stack.client() as client:
        first_id, replay_id = request_id(), request_id()
        first = client.post(url, headers={**headers, **first_id}, json=body)
        # when: the client retries the same request; round robin sends it to the next replica
        replay = client.post(url, headers={**headers, **replay_id}, json=body)
        balance = client.get(f"/api/v1/vendors/{vendor.user_id}/balance/", headers=headers)
    # then: the stored answer, once, whichever replica answers
    assert first.status_code == 201, first.text
    assert replay.status_code == 201, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert replay.json() == first.json()
    assert stack.served_by(first_id["X-Request-ID"]) != stack.served_by(replay_id["X-Request-ID"])
    assert ChargeSale.objects.filter(vendor=vendor).count() == 1
    assert balance.json()["available"] == "75.00"
    assert_ledger_verifies()


def test_an_approval_on_one_replica_is_credited_by_the_worker_and_read_on_another(
    stack: Stack,
) -> None:
    # given: a vendor's credit request
    vendor = VendorFactory()
    headers = api_key_headers(vendor.user)
    with stack.client() as client:
        created = client.post("/api/v1/credit-requests/", headers=headers,
                              json={"amount": "40.00", "note": "stack"})  # fmt: skip
        assert created.status_code == 201, created.text
        request_url = f"/api/v1/credit-requests/{created.json()['id']}/"
        # when: an admin approves it (202: the worker credits it)
        approved = client.post(
            f"{request_url}approve/", headers=login_headers(client, AdminFactory())
        )
        assert approved.status_code == 202, approved.text
        # then: read through whichever replica comes next, it ends approved and credited once
        deadline = time.monotonic() + 60
        while (status := client.get(request_url, headers=headers).json()["status"]) != "approved":
            assert time.monotonic() < deadline, f"still {status}"
            time.sleep(0.5)
        balance = client.get(f"/api/v1/vendors/{vendor.user_id}/balance/", headers=headers)
    assert balance.json()["available"] == "40.00"
    assert_ledger_verifies()


def test_rate_limits_count_the_address_haproxy_saw_across_every_replica(stack: Stack) -> None:
    # given: sign-ups are limited per client address (REGISTER_LIMIT an hour here), and two
    # clients at two addresses; every request reaches gunicorn from HAProxy's address
    answers = []
    with stack.client(source_address="127.0.0.2") as client:
        for attempt in range(REGISTER_LIMIT + 1):
            # when: each attempt claims another address and lands on another replica
            answers.append(
                client.post(
                    "/api/v1/auth/register/",
                    headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"},
                    json={},
                )
            )
    with stack.client(source_address="127.0.0.3") as other_client:
        other = other_client.post("/api/v1/auth/register/", json={})
    # then: the claimed addresses are ignored (TRUSTED_PROXY_COUNT=1 reads the one HAProxy
    # appended) and the count is shared by the replicas (Redis)
    assert [answer.status_code for answer in answers] == [400] * REGISTER_LIMIT + [429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert int(answers[-1].headers["Retry-After"]) > 0
    # and another client is counted apart, although HAProxy's address is the same for both
    assert other.status_code == 400, other.text


def test_plain_http_is_sent_to_https_and_the_load_balancer_hides_metrics(stack: Stack) -> None:
    # when
    plain = httpx.get(f"{stack.plain_url}/api/v1/offers/", timeout=10)
    with stack.client() as client:
        ready = client.get("/health/ready")
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {stack.metrics_token}"})
    # then: Tally redirects from X-Forwarded-Proto, which HAProxy sets itself
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    assert ready.status_code == 200
    assert ready.headers["Strict-Transport-Security"].startswith("max-age=")
    assert metrics.status_code == 404
    assert metrics.headers["Content-Type"] == "application/problem+json"
    assert metrics.json()["code"] == "not_found"


def test_an_activation_settled_by_the_worker_is_read_on_every_replica_and_counted(
    stack: Stack,
) -> None:
    # given: a customer with 20.00 in its wallet and a 5.00 offer
    customer = CustomerFactory()
    customer_fund(customer, 20_00)
    offer = offer_make()
    with stack.client() as client:
        headers = login_headers(client, customer.user)
        # when: it buys the offer (202: the worker calls the provider, then settles)
        accepted = client.post(
            "/api/v1/activations/", headers=headers, json={"offer": str(offer.pk)}
        )
        assert accepted.status_code == 202, accepted.text
        # then: read through the replicas in turn, it ends succeeded
        deadline = time.monotonic() + 60
        while (
            status := client.get(accepted.headers["Location"], headers=headers).json()["status"]
        ) != "succeeded":
            assert status in {"pending", "processing"}, status
            assert time.monotonic() < deadline, f"still {status}"
            time.sleep(0.5)
        statuses = {
            client.get(accepted.headers["Location"], headers=headers).json()["status"]
            for _ in range(REPLICAS)
        }
    assert statuses == {"succeeded"}
    assert wallet_position(customer) == (15_00, 0, 15_00)
    # and the worker counted it on its own /metrics
    page = httpx.get(stack.worker_metrics_url, timeout=10).text
    samples = {
        (sample.name, sample.labels.get("outcome")): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }
    assert samples[("tally_offer_activations_total", "succeeded")] >= 1
    assert_ledger_verifies()


def test_every_metric_the_dashboard_plots_is_on_a_real_scrape(stack: Stack) -> None:
    # given: some traffic on every replica (round robin), then each replica scraped directly
    vendor = VendorFactory()
    vendor_fund(vendor, 100_00)
    headers = api_key_headers(vendor.user)
    with stack.client() as client:
        for index in range(REPLICAS * 2):
            client.post(f"/api/v1/vendors/{vendor.user_id}/charges/", headers=headers,
                        json={"phone_number": f"+1415555{index:04d}", "amount": "1.00"})  # fmt: skip
            client.get(
                "/api/v1/vendors/00000000-0000-0000-0000-000000000000/balance/", headers=headers
            )
    scraped: dict[str, set[str]] = {}
    for name, url in stack.replicas.items():
        refused = httpx.get(f"{url}/metrics", timeout=10)
        page = httpx.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {stack.metrics_token}"}, timeout=10
        )
        assert refused.status_code == 401
        assert page.status_code == 200, page.text
        scraped[name] = {
            sample.name
            for family in text_string_to_metric_families(page.text)
            for sample in family.samples
        }
    haproxy = {
        sample.name
        for family in text_string_to_metric_families(
            httpx.get(f"{stack.stats_url}/metrics", timeout=10).text
        )
        for sample in family.samples
    }
    worker = {
        sample.name
        for family in text_string_to_metric_families(
            httpx.get(stack.worker_metrics_url, timeout=10).text
        )
        for sample in family.samples
    }
    defined = code_metric_families()
    plotted = {
        metric
        for dashboard in dashboards()
        for expression in dashboard_expressions(dashboard)
        for metric in expression_metric_names(expression)
        if metric != "up"  # Prometheus's own
    }
    on_every_replica = set.intersection(*scraped.values())
    # then: HAProxy's names are on its real page
    assert {metric for metric in plotted if metric.startswith("haproxy_")} <= haproxy
    # and every other name is on every replica's real page, except counters of what this
    # traffic never does (errors, exceptions, orders, payments, stock): those must at least be
    # defined in the code
    unseen = {metric for metric in plotted - haproxy - worker if metric not in on_every_replica}
    for metric in unseen:
        assert metric_family(metric) in defined, metric
        assert metric.startswith("tally_") or re.search(r"error|exception", metric), metric
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in on_every_replica
    assert "django_db_query_duration_seconds_bucket" in on_every_replica
    # and the worker serves its page (what its jobs count is checked where a job runs: the
    # activation test)
    assert worker, "the worker's /metrics is empty"


def test_every_process_reached_postgresql_through_pgbouncer_in_transaction_mode(
    stack: Stack,
) -> None:
    # given: every replica's readiness check queries PostgreSQL
    for url in stack.replicas.values():
        ready = httpx.get(f"{url}/health/ready", headers={"X-Forwarded-Proto": "https"}, timeout=30)
        assert ready.json()["checks"]["database"]["status"] == "ok"
    user = str(settings.DATABASES["default"].get("USER") or "postgres")
    # when: PgBouncer's own console is asked
    result = subprocess.run(  # noqa: S603 -- psql with fixed arguments
        [shutil.which("psql") or "/usr/bin/psql", "-h", "127.0.0.1", "-p", str(stack.pgbouncer_port),
         "-U", user, "-d", "pgbouncer", "-At", "-F", "|", "-c", "SHOW POOLS"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    # then: the test database's pool lends server connections per transaction
    pools = {line.split("|")[0]: line.split("|") for line in result.stdout.splitlines()}
    database = settings.DATABASES["default"]["NAME"]
    assert database in pools, result.stdout
    assert pools[database][-1] == "transaction", result.stdout
