"""The deployment files, checked without Docker: the image (Dockerfile), the stack
(docker-compose.yml), its settings (.env.example), the load balancer, Prometheus and Grafana.

Docker cannot build or run here, so these tests hold each file to what Tally really reads
and serves: every variable compose sets is a setting Tally reads, every required production
setting is set, every Prometheus target is a service, every metric the dashboard plots is
one the code defines. test_deploy_stack.py runs the same entrypoint, load balancer
configuration and pooling mode for real.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tally.platform.testing.deploy import (
    BASE_DIR,
    DOCKERFILE,
    ENTRYPOINT,
    HAPROXY_FILE,
    PROMETHEUS_FILE,
    code_metric_families,
    compose,
    compose_variables,
    dashboard_expressions,
    dashboards,
    env_example_names,
    expression_metric_names,
    metric_family,
    production_required_names,
    settings_environment_names,
    tally_services,
    web_services,
)

# Infrastructure every Tally process needs before it starts, and how to know it is up.
REQUIRED_SERVICES = {
    "postgres", "pgbouncer", "redis", "migrate", "worker", "beat", "haproxy", "prometheus",
    "grafana",
}  # fmt: skip


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return compose()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in (service.get("environment") or {}).items()}


# --- docker-compose.yml ------------------------------------------------------------------


def test_the_stack_has_several_web_replicas_and_every_part(stack: dict[str, Any]) -> None:
    # then
    assert set(stack["services"]) >= REQUIRED_SERVICES
    assert len(web_services(stack)) >= 3
    assert {"worker", "beat", "migrate"} <= set(tally_services(stack))
    assert stack["services"]["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_tally_services_set_only_settings_tally_reads(stack: dict[str, Any]) -> None:
    # given
    known = settings_environment_names()
    # then: a misspelt or invented name would be silently ignored by Tally
    for name, service in tally_services(stack).items():
        unknown = set(environment(service)) - known
        assert not unknown, f"{name} sets variables Tally never reads: {sorted(unknown)}"


def test_the_settings_names_are_read_from_the_code() -> None:
    # then: the derived list is the real one (a broken pattern would make it empty)
    names = settings_environment_names()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "METRICS_TOKEN", "ALLOWED_HOSTS"} <= names
    assert {"TRUSTED_PROXY_COUNT", "DATABASE_DISABLE_SERVER_SIDE_CURSORS", "GUNICORN_BIND"} <= names
    assert {"WORKER_CONCURRENCY", "WEB_CONCURRENCY", "RATE_LIMIT_MONEY"} <= names
    assert "POSTGRES_PASSWORD" not in names


def test_tally_services_set_every_required_production_setting(stack: dict[str, Any]) -> None:
    # given
    required = production_required_names()
    assert {"SECRET_KEY", "METRICS_TOKEN", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= required
    # then
    for name, service in tally_services(stack).items():
        values = environment(service)
        missing = required - set(values)
        assert not missing, f"{name} misses required settings: {sorted(missing)}"
        assert values["DJANGO_SETTINGS_MODULE"] == "config.django.production"
        assert "DEBUG" not in values


def test_one_trusted_proxy_and_the_internal_host_names_allowed(stack: dict[str, Any]) -> None:
    # given: HAProxy is the one proxy in front of gunicorn
    for name, service in tally_services(stack).items():
        values = environment(service)
        # then
        assert values["TRUSTED_PROXY_COUNT"] == "1", name
        hosts = values["ALLOWED_HOSTS"].split(",")
        # The image's and HAProxy's checks send Host: localhost; Prometheus the replica's name.
        assert "localhost" in hosts, name
        assert set(web_services(stack)) <= set(hosts), name


def test_every_variable_compose_needs_is_in_env_example(stack: dict[str, Any]) -> None:
    # given
    listed = env_example_names()
    # then
    assert compose_variables() - listed == set()
    assert production_required_names() <= listed


def test_web_worker_and_beat_reach_postgresql_through_pgbouncer_in_transaction_mode(
    stack: dict[str, Any],
) -> None:
    # given
    services = tally_services(stack)
    pgbouncer = environment(stack["services"]["pgbouncer"])
    # then
    assert pgbouncer["POOL_MODE"] == "transaction"
    assert pgbouncer["LISTEN_PORT"] == "6432"
    for name, service in services.items():
        values = environment(service)
        if name == "migrate":
            # DDL goes straight to PostgreSQL (it holds locks across statements).
            assert "@postgres:5432/" in values["DATABASE_URL"]
        else:
            assert "@pgbouncer:6432/" in values["DATABASE_URL"], name
        assert values["DATABASE_DISABLE_SERVER_SIDE_CURSORS"] == "true", name


def test_prepared_statements_and_server_side_cursors_fit_pgbouncers_transaction_mode(
    stack: dict[str, Any],
) -> None:
    # given: what PgBouncer's transaction mode needs from every connection
    from django.db import connection

    pgbouncer = stack["services"]["pgbouncer"]
    version = re.search(r":v?(\d+)\.(\d+)", pgbouncer["image"])
    assert version is not None, pgbouncer["image"]
    # when
    threshold = connection.get_connection_params()["prepare_threshold"]
    # then: a statement psycopg prepares on one server connection may run next on another:
    # PgBouncer 1.21+ tracks prepared statements and re-prepares them there, when
    # max_prepared_statements is above 0 (with prepare_threshold None nothing is prepared)
    if threshold is not None:
        assert (int(version.group(1)), int(version.group(2))) >= (1, 21)
        assert int(environment(pgbouncer)["MAX_PREPARED_STATEMENTS"]) > 0
    # and the compose setting reaches Django's server-side cursor flag
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    answers = {}
    for value in ("true", "false"):
        result = subprocess.run(  # noqa: S603 -- this interpreter, a fixed script
            [sys.executable, "-c", script],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_DISABLE_SERVER_SIDE_CURSORS": value},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        answers[value] = result.stdout.strip().splitlines()[-1]
    assert answers == {"true": "True", "false": "False"}
    # and left unset (development, tests) it stays Django's default
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is False


def test_every_process_waits_for_what_it_needs(stack: dict[str, Any]) -> None:
    # given
    services = stack["services"]
    # then: a runtime process starts after a successful migrate and healthy servers
    for name, service in tally_services(stack).items():
        if name == "migrate":
            continue
        depends = service["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["pgbouncer"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    # and every service waited on for health has a health check
    for service in services.values():
        depends = service.get("depends_on") or {}
        if isinstance(depends, dict):
            for dependency, rule in depends.items():
                if rule.get("condition") == "service_healthy":
                    check = services[dependency].get("healthcheck", {})
                    assert check.get("test"), dependency
                    assert not check.get("disable"), dependency
    # and the web replicas' own check is liveness: readiness fails on every replica at once
    # when Redis is down, while the API keeps working (docs/reliability.md)
    for name, service in web_services(stack).items():
        assert "/health/live" in " ".join(service["healthcheck"]["test"]), name


def test_invoices_are_on_storage_shared_by_the_web_replicas_and_the_worker(
    stack: dict[str, Any],
) -> None:
    # given: the worker renders invoice PDFs, any replica serves them
    services = tally_services(stack)
    sharing = [
        name
        for name, service in services.items()
        if "media:/app/var/media" in (service.get("volumes") or [])
    ]
    # then
    assert set(web_services(stack)) | {"worker"} <= set(sharing)


# --- the load balancer ---------------------------------------------------------------------


def test_haproxy_balances_over_every_web_replica(stack: dict[str, Any]) -> None:
    # given
    config = HAPROXY_FILE.read_text()
    haproxy = environment(stack["services"]["haproxy"])
    servers = re.findall(r'^\s*server\s+\S+\s+"\$\{([A-Z0-9_]+)\}"', config, re.MULTILINE)
    # then: one server line per replica, each pointing at a web service's port
    assert sorted(haproxy[variable] for variable in servers) == sorted(
        f"{name}:8000" for name in web_services(stack)
    )
    assert re.search(r"^\s*option forwardfor\b", config, re.MULTILINE)
    assert "uri /health/live" in config
    # and every variable the file reads is set
    assert set(re.findall(r"\$\{([A-Z0-9_]+)\}", config)) <= set(haproxy)
    for volume in stack["services"]["haproxy"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./deploy/haproxy"):
            assert (BASE_DIR / source).exists(), source


def test_the_load_balancers_own_errors_are_problem_documents() -> None:
    # given
    for path in sorted((HAPROXY_FILE.parent / "errors").glob("*.http")):
        head, _, body = path.read_bytes().partition(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
        )
        # then
        assert headers["Content-Type"] == "application/problem+json", path.name
        assert int(headers["Content-Length"]) == len(body), path.name
        document = yaml.safe_load(body)
        assert {"status", "code", "detail"} <= set(document), path.name
        assert str(document["status"]) == path.stem


# --- the image -----------------------------------------------------------------------------


def test_the_image_is_multi_stage_on_the_projects_python() -> None:
    # given
    instructions = dockerfile_instructions()
    arguments = dict(
        argument.split("=", 1) for keyword, argument in instructions if keyword == "ARG"
    )
    bases = [argument for keyword, argument in instructions if keyword == "FROM"]
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
    lowest = re.search(r">=\s*(\d+\.\d+)", project["requires-python"])
    assert lowest is not None
    # then
    assert len(bases) >= 3  # uv, build, runtime
    python_bases = [base for base in bases if base.startswith("python:")]
    assert len(python_bases) >= 2
    assert all("${PYTHON_VERSION}-slim" in base for base in python_bases)
    assert arguments["PYTHON_VERSION"] == lowest.group(1)
    assert arguments["PYTHON_VERSION"] == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_image_installs_exactly_uv_lock_without_dev_or_embedded_servers() -> None:
    # given
    instructions = dockerfile_instructions()
    runs = [argument for keyword, argument in instructions if keyword == "RUN"]
    copies = [argument for keyword, argument in instructions if keyword == "COPY"]
    syncs = [run for run in runs if "uv sync" in run]
    # then
    assert any("uv.lock" in copy for copy in copies)
    assert syncs
    for sync in syncs:
        assert "--frozen" in sync
        assert "--no-dev" in sync
        assert "embedded" not in sync
        assert "--all-extras" not in sync
    assert any("collectstatic" in run for run in runs)


def test_the_image_runs_as_an_unprivileged_user_with_a_health_check() -> None:
    # given
    instructions = dockerfile_instructions()
    users = [argument for keyword, argument in instructions if keyword == "USER"]
    checks = [argument for keyword, argument in instructions if keyword == "HEALTHCHECK"]
    entrypoints = [argument for keyword, argument in instructions if keyword == "ENTRYPOINT"]
    # then: the last USER (the one the container runs as) is not root
    assert users
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert len(checks) == 1
    assert "/health/live" in checks[0]
    assert entrypoints == ['["/app/deploy/docker-entrypoint.sh"]']
    assert os.access(ENTRYPOINT, os.X_OK)


def test_the_build_context_leaves_out_local_state_and_secrets() -> None:
    # given
    ignored = {
        line.strip()
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    # then
    assert {".env", ".venv", "var", ".git"} <= ignored


def test_the_entrypoint_is_valid_shell_and_starts_gunicorn_with_the_projects_config() -> None:
    # when
    result = subprocess.run(  # noqa: S603 -- the system shell on a file of this repository
        ["/bin/sh", "-n", str(ENTRYPOINT)], capture_output=True, timeout=10
    )
    # then
    assert result.returncode == 0, result.stderr
    text = ENTRYPOINT.read_text()
    assert "exec gunicorn -c config/gunicorn.py config.wsgi:application" in text
    assert "exec celery -A config worker" in text
    assert "exec celery -A config beat" in text


def test_the_production_settings_pass_djangos_deployment_checks_through_the_entrypoint(
    tmp_path: Path,
) -> None:
    # given: the image's environment and a deployment's settings
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "config.django.production",
        "TALLY_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "k" * 20 + "3f9Qz-Lw8_Yx2Pv7Rt5Nm1Bc4Hd6Jg0Sa" + "q" * 10,
        "METRICS_TOKEN": "t" * 16 + "8dJw2Lq9Zx4Nc7Vb",
        "ALLOWED_HOSTS": "api.example.com,localhost",
        "DATABASE_URL": "postgres://tally@127.0.0.1:1/tally",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    # when
    result = subprocess.run(  # noqa: S603 -- the image's entrypoint, fixed arguments
        [str(ENTRYPOINT), "manage", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- Prometheus and Grafana ----------------------------------------------------------------


def test_prometheus_scrapes_every_web_replica_and_only_services_that_exist(
    stack: dict[str, Any],
) -> None:
    # given
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    targets = {
        job["job_name"]: [
            *(target for group in job.get("static_configs", []) for target in group["targets"]),
            *(
                f"{name}:{group['port']}"
                for group in job.get("dns_sd_configs", [])
                for name in group["names"]
            ),
        ]
        for job in config["scrape_configs"]
    }
    services = stack["services"]
    # then
    assert sorted(targets["tally-web"]) == sorted(f"{name}:8000" for name in web_services(stack))
    assert targets["tally-worker"] == ["worker:9100"]
    for job, addresses in targets.items():
        for address in addresses:
            host, port = address.rsplit(":", 1)
            if host == "localhost":
                continue
            assert host in services, f"{job} scrapes {host}, which compose does not run"
            if host == "haproxy":
                assert environment(services[host])["TALLY_LB_STATS_BIND"] == f":{port}"
            if host == "worker":
                assert environment(services[host])["WORKER_METRICS_BIND"].endswith(f":{port}")
    web_job = next(job for job in config["scrape_configs"] if job["job_name"] == "tally-web")
    token_file = web_job["authorization"]["credentials_file"]
    mounted = [entry["target"] for entry in services["prometheus"]["configs"]]
    assert token_file in mounted
    assert "GUNICORN_BIND=0.0.0.0:8000" in DOCKERFILE.read_text()


def test_grafana_is_provisioned_with_the_dashboards_datasource() -> None:
    # given
    provisioning = yaml.safe_load(
        (BASE_DIR / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uids = {source["uid"] for source in provisioning["datasources"]}
    # then
    assert dashboards()
    for dashboard in dashboards():
        for expression_panel in dashboard["panels"]:
            if expression_panel["type"] != "row":
                assert expression_panel["datasource"]["uid"] in uids


def test_every_metric_the_dashboard_plots_is_defined_in_the_code() -> None:
    # given
    defined = code_metric_families()
    assert {
        "tally_orders",
        "tally_payments",
        "django_http_requests_latency_seconds_by_view_method",
    } <= defined
    # then: Tally's and django-prometheus's names (HAProxy's are checked against a real
    # HAProxy in test_deploy_stack.py)
    for dashboard in dashboards():
        for expression in dashboard_expressions(dashboard):
            names = expression_metric_names(expression)
            assert names, expression
            for name in names:
                if name == "up" or name.startswith("haproxy_"):
                    continue
                assert metric_family(name) in defined, f"{name} in {expression!r}"


def test_the_metric_name_reader_finds_names_and_skips_functions_and_labels() -> None:
    # when
    names = expression_metric_names(
        'histogram_quantile(0.95, sum by (le, view) (rate(a_seconds_bucket{job="x"}[5m]))) '
        "/ sum(b_total) + up"
    )
    # then
    assert names == {"a_seconds_bucket", "b_total", "up"}
