# The front door. `make run` and `make test` work on a fresh clone with Python 3.11+, git, make.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
PY := .venv/bin/python
# Type checking imports settings; it needs no live servers.
TYPECHECK_ENV := DATABASE_URL=postgres://localhost/typecheck REDIS_URL=redis://localhost:6379/0

.PHONY: install browser-deps deploy-deps test-browser test-deploy run test lint fmt typecheck migrate shell bench bench-quick drills drills-short security soak clean

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra embedded

# Debian's chromium for the admin's browser tests (tally/platform/tests/browser/); Playwright's
# own browser download cannot be used here. Installed when missing and apt-get can (as root);
# elsewhere the browser tests are skipped with the reason (CI sets BROWSER_TESTS_REQUIRED=1).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed: the browser tests will be skipped"

# Debian's HAProxy and PgBouncer for the multi-instance test (tally/platform/tests/
# test_deploy_stack.py), and its prometheus for promtool (the alert rules' unit tests). Installed when missing and apt-get can (as root); elsewhere those
# tests are skipped with the reason (CI sets DEPLOY_TESTS_REQUIRED=1).
deploy-deps:
	@{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } && { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; } \
		&& command -v promtool >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy pgbouncer prometheus >/dev/null; } \
		|| echo "haproxy, pgbouncer or promtool not installed: the multi-instance deploy tests and the alert rules' promtool tests will be skipped"

run: install
	$(PY) -m tally.platform.devserver

test: install browser-deps deploy-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# The deployment files checked statically, and the deployed shape run for real (docs/deploy.md).
test-deploy: install deploy-deps
	DEPLOY_TESTS_REQUIRED=1 PROMTOOL_REQUIRED=1 $(PY) -m pytest tally/platform/tests/test_deploy_files.py tally/platform/tests/test_deploy_stack.py tally/platform/tests/test_worker_metrics.py tally/platform/tests/test_alert_rules.py $(PYTEST_ARGS)

# Only the browser tests; screenshots under var/browser-artifacts/.
test-browser: install browser-deps
	BROWSER_TESTS_REQUIRED=1 $(PY) -m pytest -m browser tally/platform/tests/browser $(PYTEST_ARGS)

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(TYPECHECK_ENV) .venv/bin/mypy .

fmt: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

migrate: install
	$(PY) manage.py migrate

shell: install
	$(PY) manage.py shell

clean:
	rm -rf var .venv .mypy_cache .ruff_cache .pytest_cache

# Production-like load against this machine's own limits; writes docs/benchmarks.md and
# bench/results/latest.json (docs/benchmarks.md says what each scenario does).
bench: install
	$(PY) -m bench $(BENCH_ARGS)

# Every scenario at smoke sizes (about a minute); writes bench/results/quick.json only.
bench-quick: install
	$(PY) -m bench --quick $(BENCH_ARGS)

# Fault drills: each breaks one part of a running Tally under load (kill -9 a web worker,
# restart PostgreSQL, stop Redis, kill -9 the Celery worker, deliver every job twice, lose
# every job between commit and publish), recovers, then checks the books. docs/reliability.md.
drills: install
	$(PY) -m drills $(DRILLS_ARGS)

# The same drills, short (CI).
drills-short: install
	$(PY) -m drills --short $(DRILLS_ARGS)

# Static security checks (bandit) and the dependency audit (pip-audit over uv.lock).
security: install
	bash .ci/security

# 30 minutes of mixed load against the bench's production-like stack; memory per process and
# latency must stay flat (docs/reliability.md). Not in CI.
soak: install
	$(PY) -m bench.soak $(SOAK_ARGS)
