"""Fixtures shared by every app's tests: real PostgreSQL, real Redis, real Celery worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from rest_framework.test import APIClient

from config.celery import app as celery_app

# How long a worker fixture waits, after its test, for the jobs it was given (see below).
WORKER_DRAIN_SECONDS = 5.0

# Role fixtures (admin_client, vendor_client, …) are shared by every app's tests.
pytest_plugins = ["tally.identity.tests.fixtures"]


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def celery_worker(transactional_db: Any) -> Iterator[Any]:
    """A real Celery worker (thread pool) consuming this run's queue on the real broker."""
    with start_worker(
        celery_app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker
        # Let the jobs the test set going (an invoice after a capture, an email) finish before
        # the worker stops and the tables are emptied under it: a job still writing then
        # deadlocks the flush. Bounded, and never a failure: some tests leave jobs on purpose.
        from tally.platform.outbox.models import OutboxMessage

        running = OutboxMessage.objects.filter(
            processed_at__isnull=True, published_at__isnull=False
        )
        deadline = time.monotonic() + WORKER_DRAIN_SECONDS
        while running.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
