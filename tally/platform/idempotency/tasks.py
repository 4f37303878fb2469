from __future__ import annotations

from celery import shared_task

from tally.platform.idempotency.services import idempotency_records_purge


@shared_task(name="tally.platform.idempotency.tasks.idempotency_purge", ignore_result=True)
def idempotency_purge() -> int:
    """Beat job: drop idempotency records older than their 24 h lifetime."""
    return idempotency_records_purge()
