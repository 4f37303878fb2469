"""The live server helper itself (tally.platform.testing.live_server): its Celery worker
consumes this test run's queue, with the test database. (It lives here until the platform
tests adopt it.)"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from config.celery import app as celery_app
from tally.platform.idempotency.models import IdempotencyRecord
from tally.platform.testing.live_server import live_server_run
from tally.platform.testing.race import wait_until


@pytest.mark.django_db(transaction=True)
def test_live_server_runs_gunicorn_and_a_worker_on_this_runs_queue() -> None:
    # given: an expired idempotency record in the test database
    IdempotencyRecord.objects.create(
        scope="anonymous",
        key="expired",
        method="POST",
        path="/",
        fingerprint="0" * 64,
        response_status=201,
        response_body=b"{}",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    with live_server_run(web_workers=2, celery_worker=True) as base_url:
        assert httpx.get(f"{base_url}/health/live", timeout=10).json() == {"status": "ok"}
        # when: the purge job is published on this run's default queue
        celery_app.send_task("tally.platform.idempotency.tasks.idempotency_purge")
        # then: the live worker runs it against the test database
        wait_until(lambda: not IdempotencyRecord.objects.exists(), timeout_seconds=30)
