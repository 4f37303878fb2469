"""Call-out jobs (claim → commit → call out → settle) end in exactly one settlement when
their worker is killed at any step, never hold a transaction while the outside system
works, and give up once, recorded, after their last attempt.

The outside system is a real HTTP server (tally/platform/testing/outside_system.py); the
workers are real Celery processes, SIGKILLed at the step under test.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from django_redis import get_redis_connection

from tally.platform.audit.models import AuditEvent
from tally.platform.db import TransactionOpenError, require_no_transaction
from tally.platform.outbox import services
from tally.platform.outbox.callout import outbox_callout_reconcile
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.live_server import celery_worker_run
from tally.platform.testing.outside_system import OutsideSystem, outside_system_run
from tally.platform.testing.race import transactions_open, wait_until
from tally.platform.tests import callout_probe as probe

PROBE_MODULE = ("tally.platform.tests.callout_probe",)
WORKER_TIMEOUT_SECONDS = 60.0

pytestmark = pytest.mark.django_db(transaction=True)


def _token() -> str:
    return uuid.uuid4().hex


def _enqueue(outside: OutsideSystem, token: str) -> OutboxMessage:
    with transaction.atomic():
        return services.outbox_enqueue(
            task_name=probe.TASK_NAME, payload={"url": outside.url, "token": token}
        )


def _written(task_name: str, outside: OutsideSystem, token: str) -> OutboxMessage:
    """A committed job that was never published (run by the test itself, eagerly)."""
    return OutboxMessage.objects.create(
        task_name=task_name, payload={"url": outside.url, "token": token}
    )


def _kwargs(message: OutboxMessage) -> dict[str, Any]:
    return {"message_id": message.id, **message.payload}


def _audits(action: str, message: OutboxMessage) -> int:
    return AuditEvent.objects.filter(action=action, target_id=str(message.id)).count()


def _settled(message: OutboxMessage) -> bool:
    return _audits(probe.SETTLED, message) > 0


def _drain(outside: OutsideSystem) -> None:
    """Wait until the worker has handled everything queued before now: a solo worker takes
    jobs in order, so once a job enqueued now is settled, every earlier delivery is done."""
    marker = _enqueue(outside, _token())
    wait_until(lambda: _settled(marker), timeout_seconds=WORKER_TIMEOUT_SECONDS)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("step", "attempts", "calls"),
    [
        ("after_claim", 2, 1),  # the first claim never called out
        ("during_call", 2, 2),  # the outside system saw both attempts, applied one
        ("after_call", 2, 2),
        ("after_settle", 1, 1),  # settled; the redelivery does nothing
    ],
)
def test_worker_killed_at_each_step_settles_exactly_once(
    step: str, attempts: int, calls: int
) -> None:
    # given: a job, and a worker that will stop at the step under test
    token = _token()
    redis = get_redis_connection("default")
    with outside_system_run() as outside:
        if step == "during_call":
            outside.stall_next_call()
        else:
            redis.set(probe.pause_key(token), step)
        with celery_worker_run(include=PROBE_MODULE) as worker:
            message = _enqueue(outside, token)
            if step == "during_call":
                outside.wait_for_stalled_call(timeout_seconds=WORKER_TIMEOUT_SECONDS)
                # then, while the outside system holds the call: no transaction anywhere
                assert transactions_open() == []
            else:
                wait_until(
                    lambda: redis.get(probe.reached_key(token)) == step.encode(),
                    timeout_seconds=WORKER_TIMEOUT_SECONDS,
                )
            # when: the worker crashes there
            worker.kill()
        outside.release()
        message.refresh_from_db()
        assert message.attempts == 1
        assert _audits(probe.SETTLED, message) == (1 if step == "after_settle" else 0)

        # ... and a new worker, the reconciler and a broker redelivery take over
        with celery_worker_run(include=PROBE_MODULE):
            if step != "after_settle":
                wait_until(
                    lambda: outbox_callout_reconcile() > 0,
                    timeout_seconds=probe.CLAIM_TIMEOUT_SECONDS * 10,
                )
                wait_until(lambda: _settled(message), timeout_seconds=WORKER_TIMEOUT_SECONDS)
            else:
                assert outbox_callout_reconcile() == 0
            services._send(message)  # the lost delivery comes back from the broker
            _drain(outside)

        # then: exactly one settlement, one effect outside, calls only as the steps allow
        key = f"outbox-{message.id}"
        message.refresh_from_db()
        assert _audits(probe.SETTLED, message) == 1
        assert _audits(probe.GAVE_UP, message) == 0
        assert (message.attempts, message.failed_at) == (attempts, None)
        assert message.processed_at is not None
        assert outside.calls.count(key) == calls
        assert outside.effects[key] == "ext-1"  # the key's one effect, applied first
        settled = AuditEvent.objects.get(action=probe.SETTLED, target_id=str(message.id))
        assert settled.changes["reference"] == [None, "ext-1"]


def test_a_late_attempt_after_another_settled_is_a_no_op() -> None:
    # given: attempt 1 is stuck inside the outside system past its claim
    token = _token()
    with outside_system_run() as outside:
        message = _written(probe.TASK_NAME, outside, token)
        outside.stall_next_call()

        def first_attempt() -> None:
            probe.callout_probe.apply(kwargs=_kwargs(message))
            connection.close()

        first = threading.Thread(target=first_attempt)
        first.start()
        outside.wait_for_stalled_call()
        wait_until(
            lambda: OutboxMessage.objects.filter(
                pk=message.pk, next_attempt_at__lte=Now()
            ).exists(),
            timeout_seconds=probe.CLAIM_TIMEOUT_SECONDS * 5,
        )
        # when: attempt 2 claims, calls (same key) and settles; then attempt 1 returns
        probe.callout_probe.apply(kwargs=_kwargs(message))
        outside.release()
        first.join(30)
    # then
    message.refresh_from_db()
    assert message.attempts == 2
    assert _audits(probe.SETTLED, message) == 1
    assert outside.calls == [f"outbox-{message.id}"] * 2
    assert outside.effects == {f"outbox-{message.id}": "ext-1"}


def test_failed_attempts_back_off_then_give_up_once_recorded() -> None:
    # given: the outside system answers 503 to everything
    token = _token()
    with outside_system_run() as outside:
        outside.fail_next_calls(100)
        message = _written(probe.GIVE_UP_TASK_NAME, outside, token)
        # when: the job runs (its retries run at once here) and is then delivered again
        probe.callout_probe_gives_up.apply(kwargs=_kwargs(message))
        probe.callout_probe_gives_up.apply(kwargs=_kwargs(message))
    # then
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.failed_at is not None
    assert message.processed_at is not None
    assert "503" in message.last_error
    assert _audits(probe.GAVE_UP, message) == 1
    assert _audits(probe.SETTLED, message) == 0
    assert outside.calls == [f"outbox-{message.id}"] * 2
    assert outside.effects == {}
    assert outbox_callout_reconcile() == 0


def test_a_failed_attempt_records_its_error_and_the_next_one_settles() -> None:
    # given: one 503, then the outside system works
    token = _token()
    with outside_system_run() as outside:
        outside.fail_next_calls(1)
        message = _written(probe.GIVE_UP_TASK_NAME, outside, token)
        # when
        probe.callout_probe_gives_up.apply(kwargs=_kwargs(message))
    # then
    message.refresh_from_db()
    assert (message.attempts, message.failed_at) == (2, None)
    assert "503" in message.last_error
    assert _audits(probe.SETTLED, message) == 1
    assert outside.effects == {f"outbox-{message.id}": "ext-1"}


def test_a_call_out_job_refuses_to_run_inside_a_transaction() -> None:
    # given
    with outside_system_run() as outside:
        message = _written(probe.TASK_NAME, outside, _token())
        # when
        with pytest.raises(TransactionOpenError), transaction.atomic():
            probe.callout_probe.apply(kwargs=_kwargs(message), throw=True)
    # then: nothing claimed, nothing called
    message.refresh_from_db()
    assert (message.attempts, message.processed_at) == (0, None)
    assert outside.calls == []


def test_require_no_transaction() -> None:
    require_no_transaction()
    with pytest.raises(TransactionOpenError), transaction.atomic():
        require_no_transaction()


def test_a_live_claim_is_left_alone_and_a_lapsed_one_is_republished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a job claimed ten minutes ahead, never settled
    sent: list[int] = []
    monkeypatch.setattr(services, "_send", lambda message: sent.append(message.id))
    now = timezone.now()
    message = OutboxMessage.objects.create(
        task_name=probe.TASK_NAME,
        payload={},
        attempts=1,
        claimed_at=now,
        next_attempt_at=now + timedelta(minutes=10),
    )
    # when / then: neither the sweeper nor the reconciler touches it while the claim runs
    assert services.outbox_sweep(now=now + timedelta(minutes=5)) == 0
    assert outbox_callout_reconcile(now=now + timedelta(minutes=5)) == 0
    assert sent == []
    # ... and once the claim has lapsed the reconciler republishes it
    assert outbox_callout_reconcile(now=now + timedelta(minutes=11)) == 1
    assert sent == [message.id]
    message.refresh_from_db()
    assert (message.attempts, message.processed_at) == (1, None)
