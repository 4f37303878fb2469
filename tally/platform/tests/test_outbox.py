"""The outbox delivers every committed job exactly once, even when publishing fails."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection

from tally.platform.db import TransactionRequiredError
from tally.platform.outbox import services
from tally.platform.outbox.models import OutboxMessage, ProcessedMessage
from tally.platform.testing.race import wait_until
from tally.platform.testing.tasks import task_runs_counted

TASK_NAME = "tally.platform.tests.outbox_probe"


def _counter_key(token: str) -> str:
    return f"tally-test:outbox-probe:{token}"


@services.outbox_task(TASK_NAME)
def outbox_probe(*, token: str) -> None:
    # The effect a duplicate delivery would repeat: one increment per processing.
    get_redis_connection("default").incr(_counter_key(token))


def processed_count(token: str) -> int:
    return int(get_redis_connection("default").get(_counter_key(token)) or 0)


@pytest.mark.django_db(transaction=True)
def test_enqueue_requires_a_transaction() -> None:
    with pytest.raises(TransactionRequiredError):
        services.outbox_enqueue(task_name=TASK_NAME, payload={})


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_publishes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(services, "_send", lambda message: sent.append(message.id))

    def fail_after_enqueue() -> None:
        with transaction.atomic():
            services.outbox_enqueue(task_name=TASK_NAME, payload={"token": "rolled-back"})
            raise RuntimeError("business failure")

    with pytest.raises(RuntimeError):
        fail_after_enqueue()
    assert sent == []
    assert not OutboxMessage.objects.exists()


def test_publish_failure_after_commit_is_swept_and_processed_exactly_once(
    celery_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the broker refuses the publish that follows the commit
    token = f"sweep-{time.time_ns()}"
    real_send = services._send

    def broken_send(message: OutboxMessage) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(services, "_send", broken_send)
    with transaction.atomic():
        message = services.outbox_enqueue(task_name=TASK_NAME, payload={"token": token})
    message.refresh_from_db()
    assert message.published_at is None
    assert message.publish_attempts == 1

    # when: the broker is back and the sweeper runs (twice, as overlapping beats could)
    monkeypatch.setattr(services, "_send", real_send)
    later = timezone.now() + timedelta(seconds=3600)
    with task_runs_counted(TASK_NAME) as runs:
        assert services.outbox_sweep(now=later) == 1
        wait_until(lambda: ProcessedMessage.objects.filter(message_id=message.id).exists())
        assert services.outbox_publish(message_id=message.id) is False  # processed: not re-sent
        real_send(message)  # a duplicate that reached the broker anyway
        runs.wait_for(2)  # the sweep's delivery and the duplicate were both handled

    # then
    assert processed_count(token) == 1
    message.refresh_from_db()
    assert message.processed_at is not None
    assert services.outbox_sweep(now=later) == 0


def test_concurrent_duplicate_deliveries_run_the_handler_once(celery_worker: Any) -> None:
    # given
    token = f"dup-{time.time_ns()}"
    with task_runs_counted(TASK_NAME) as runs:
        with transaction.atomic():
            message = services.outbox_enqueue(task_name=TASK_NAME, payload={"token": token})
        # when: the publish after commit, then five duplicates
        for _ in range(5):
            services._send(message)
        runs.wait_for(6)
    # then
    assert ProcessedMessage.objects.filter(message_id=message.id).count() == 1
    assert processed_count(token) == 1
