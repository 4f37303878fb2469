# The front door. `make run` and `make test` work on a fresh clone with Python 3.11+, git, make.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
PY := .venv/bin/python
# Type checking imports settings; it needs no live servers.
TYPECHECK_ENV := DATABASE_URL=postgres://localhost/typecheck REDIS_URL=redis://localhost:6379/0

.PHONY: install run test lint fmt typecheck migrate shell bench bench-quick drills drills-short security soak clean

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra embedded

run: install
	$(PY) -m tally.platform.devserver

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

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
