"""A call-out use case that exists only in tests: it calls the test's outside system and
settles by writing an audit row on its outbox message (exactly one per job must exist).

The test worker imports this module (``celery_worker_run(include=...)``). A test asks the
job to stop at a step by setting ``pause_key(token)`` to that step's name in Redis; the
first attempt reaching that step records it under ``reached_key(token)`` and sleeps until
the test kills its worker. Later attempts find the request consumed and go on.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from django.db import transaction
from django_redis import get_redis_connection

from tally.platform.audit.services import audit_record
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.models import OutboxMessage

TASK_NAME = "tally.platform.tests.callout_probe"
GIVE_UP_TASK_NAME = "tally.platform.tests.callout_probe_gives_up"
SETTLED = "callout_probe.settled"
GAVE_UP = "callout_probe.gave_up"
CLAIM_TIMEOUT_SECONDS = 3.0


def pause_key(token: str) -> str:
    return f"tally-test:callout-probe:{token}:pause"


def reached_key(token: str) -> str:
    return f"tally-test:callout-probe:{token}:reached"


def _pause_if_asked(token: str, step: str) -> None:
    redis = get_redis_connection("default")
    if redis.get(pause_key(token)) == step.encode() and redis.delete(pause_key(token)):
        redis.set(reached_key(token), step)
        time.sleep(600)  # until the test kills this worker


def call_out(attempt: CallOutAttempt, *, url: str, token: str) -> dict[str, Any]:
    _pause_if_asked(token, "after_claim")
    response = httpx.post(
        f"{url}/calls",
        headers={"Idempotency-Key": attempt.idempotency_key},
        json={"token": token},
        timeout=60,
    )
    response.raise_for_status()
    _pause_if_asked(token, "after_call")
    return dict(response.json())


def settle(attempt: CallOutAttempt, result: dict[str, Any], *, url: str, token: str) -> None:
    audit_record(
        actor=None,
        action=SETTLED,
        target=OutboxMessage.objects.get(pk=attempt.message_id),
        changes={"reference": [None, result["reference"]], "attempt": [None, attempt.attempt]},
    )
    transaction.on_commit(lambda: _pause_if_asked(token, "after_settle"))


def give_up(attempt: CallOutAttempt, error: str, *, url: str, token: str) -> None:
    audit_record(
        actor=None,
        action=GAVE_UP,
        target=OutboxMessage.objects.get(pk=attempt.message_id),
        changes={"error": [None, error], "attempt": [None, attempt.attempt]},
    )


callout_probe = outbox_callout_task(
    TASK_NAME,
    call_out=call_out,
    settle=settle,
    give_up=give_up,
    max_attempts=4,
    claim_timeout_seconds=CLAIM_TIMEOUT_SECONDS,
)

callout_probe_gives_up = outbox_callout_task(
    GIVE_UP_TASK_NAME,
    call_out=call_out,
    settle=settle,
    give_up=give_up,
    max_attempts=2,
    claim_timeout_seconds=CLAIM_TIMEOUT_SECONDS,
    backoff_seconds=lambda attempt: 0.0,
)
