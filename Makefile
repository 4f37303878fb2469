# The front door. `make run` and `make test` work on a fresh clone with Python 3.11+, git, make.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
PY := .venv/bin/python
# Type checking imports settings; it needs no live servers.
TYPECHECK_ENV := DATABASE_URL=postgres://localhost/typecheck REDIS_URL=redis://localhost:6379/0

.PHONY: install run test lint fmt typecheck migrate shell bench bench-quick clean

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
