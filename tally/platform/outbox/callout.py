"""Outbox jobs that call an outside system: claim → commit → call out → settle.

A plain ``outbox_task`` runs its handler inside one transaction, so it must never call a
partner, a gateway or a provisioner (a slow partner would hold row locks). A call-out use
case declares three steps instead, and the outbox runs them so that a crash or a
redelivery at any point ends in exactly one settlement::

    provision = outbox_callout_task(
        "tally.offers.activation_provision",
        call_out=activation_call_provisioner,   # no transaction open; returns a JSON-able result
        settle=activation_settle,               # in the settle transaction: post or void
        give_up=activation_give_up,             # in a transaction, after the last attempt
        max_attempts=5,
        claim_timeout_seconds=60,
    )
    # in the request's use case, with the intent and its pending transfer:
    outbox_enqueue(task_name="tally.offers.activation_provision", payload={"activation_id": ...})

1. **Claim** (its own transaction, committed): a conditional update takes the job if it is
   not settled and no live claim owns it: ``attempts + 1``, ``claimed_at``, and
   ``next_attempt_at = now + claim_timeout_seconds`` (the claim's lease).
2. **Call out** with no transaction open (``require_no_transaction``), passing
   ``attempt.idempotency_key`` (the same for every attempt of the job) so the outside
   system applies the request once however often it is sent.
3. **Settle** (a new transaction): ``UPDATE … SET processed_at = now() WHERE id = … AND
   processed_at IS NULL``; only the attempt whose update took the row runs ``settle``, so a
   second settle (a late first attempt, a redelivery) is a no-op.

A failed call records ``last_error`` and a backed-off ``next_attempt_at`` and retries; after
``max_attempts`` the job gives up: ``give_up`` runs once, in the transaction that marks the
job processed and failed (``failed_at``), and records the terminal outcome the use case
chooses (e.g. void the reservation). A worker that dies after claiming leaves the job
claimed but never settled; once the lease has passed, the beat job
``outbox_callout_reconcile`` republishes it and the next delivery claims it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import shared_task
from celery.app.task import Task
from django.db import connection
from django.utils import timezone

from tally.platform.db import require_no_transaction, use_case_transaction
from tally.platform.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

RECONCILE_BATCH_SIZE = 500
ERROR_MAX_CHARS = 1000


@dataclass(frozen=True)
class CallOutAttempt:
    """One claimed attempt of a call-out job, handed to each step."""

    message_id: int
    # 1 for the first claim; increases with every claim (retry, redelivery after a crash).
    attempt: int
    max_attempts: int
    # Send this to the outside system: the same for every attempt of the job.
    idempotency_key: str
    # The last recorded failure (empty on the first attempt).
    last_error: str = ""


def default_backoff_seconds(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt``: 2, 4, 8, … capped at 300."""
    return float(min(300, 2 ** min(attempt, 8)))


def _idempotency_key(message_id: int) -> str:
    return f"outbox-{message_id}"


def _attempt(message_id: int, max_attempts: int, row: Any) -> CallOutAttempt | None:
    """The attempt a ``RETURNING attempts, last_error`` row describes (None: no row)."""
    if row is None:
        return None
    return CallOutAttempt(
        message_id=message_id,
        attempt=int(row[0]),
        max_attempts=max_attempts,
        idempotency_key=_idempotency_key(message_id),
        last_error=str(row[1]),
    )


def _claim(*, message_id: int, max_attempts: int, lease_seconds: float) -> CallOutAttempt | None:
    """Step 1, in the caller's transaction: take the job for a new attempt, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE platform_outboxmessage SET attempts = attempts + 1, claimed_at = now(), "
            "next_attempt_at = now() + make_interval(secs => %s) "
            "WHERE id = %s AND processed_at IS NULL AND attempts < %s "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) "
            "RETURNING attempts, last_error",
            [lease_seconds, message_id, max_attempts],
        )
        return _attempt(message_id, max_attempts, cursor.fetchone())


def _exhausted(*, message_id: int, max_attempts: int) -> CallOutAttempt | None:
    """In the caller's transaction: mark an unsettled job whose attempts are used up (and
    whose last claim has lapsed) processed and failed; the attempt if this call did it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE platform_outboxmessage SET processed_at = now(), failed_at = now() "
            "WHERE id = %s AND processed_at IS NULL AND attempts >= %s "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= now()) "
            "RETURNING attempts, last_error",
            [message_id, max_attempts],
        )
        return _attempt(message_id, max_attempts, cursor.fetchone())


def _settle_mark(*, message_id: int) -> bool:
    """Step 3's guard, in the caller's transaction: True for the one settle that counts."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE platform_outboxmessage SET processed_at = now() "
            "WHERE id = %s AND processed_at IS NULL RETURNING id",
            [message_id],
        )
        return cursor.fetchone() is not None


def _give_up_now(*, attempt: CallOutAttempt, error: str) -> bool:
    """In the caller's transaction: the failed last attempt ends the job (if still its own)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE platform_outboxmessage SET processed_at = now(), failed_at = now(), "
            "last_error = %s WHERE id = %s AND processed_at IS NULL AND attempts = %s "
            "RETURNING id",
            [error, attempt.message_id, attempt.attempt],
        )
        return cursor.fetchone() is not None


def _record_failure(*, attempt: CallOutAttempt, error: str, retry_in_seconds: float) -> None:
    """Its own transaction: the error and when the next attempt may claim the job (only if
    no later attempt took it meanwhile)."""
    with use_case_transaction(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE platform_outboxmessage SET last_error = %s, "
            "next_attempt_at = now() + make_interval(secs => %s) "
            "WHERE id = %s AND processed_at IS NULL AND attempts = %s",
            [error, retry_in_seconds, attempt.message_id, attempt.attempt],
        )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]


def outbox_callout_task(
    name: str,
    *,
    call_out: Callable[..., Any],
    settle: Callable[..., None],
    give_up: Callable[..., None],
    max_attempts: int = 5,
    claim_timeout_seconds: float = 60.0,
    backoff_seconds: Callable[[int], float] = default_backoff_seconds,
) -> Task:
    """Declare a Celery task fed by the outbox that calls an outside system exactly as
    described in this module: claim → commit → call out → settle.

    - ``call_out(attempt, **payload)`` runs with no transaction open and returns a
      JSON-able result; an exception is a failed attempt (retried with backoff). An answer
      that is a refusal (a declined card) is a result: ``settle`` decides what it means.
    - ``settle(attempt, result, **payload)`` runs once per job, in the transaction that
      marks it processed; it posts or voids, changes status, writes audit rows.
    - ``give_up(attempt, error, **payload)`` runs once, instead of ``settle``, when the last
      of ``max_attempts`` failed or its worker vanished; it records the terminal failure.

    ``claim_timeout_seconds`` must exceed the longest call out: a claim older than that is
    presumed dead and the job may be claimed again. Enqueue with ``outbox_enqueue``.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def run_give_up(attempt: CallOutAttempt, error: str, payload: dict[str, Any]) -> None:
        give_up(attempt, error, **payload)
        logger.warning(
            "outbox call-out gave up",
            extra={"task": name, "message_id": attempt.message_id, "error": error},
        )

    @shared_task(name=name, bind=True, max_retries=None, acks_late=True)
    def task(self: Task, message_id: int, **payload: Any) -> None:
        # A call-out job is its own unit of work: never run it inside a caller's transaction.
        require_no_transaction()
        with use_case_transaction():
            attempt = _claim(
                message_id=message_id,
                max_attempts=max_attempts,
                lease_seconds=claim_timeout_seconds,
            )
            if attempt is None:
                exhausted = _exhausted(message_id=message_id, max_attempts=max_attempts)
                if exhausted is not None:
                    run_give_up(exhausted, exhausted.last_error or "no attempt settled", payload)
        if attempt is None:
            return  # settled, given up, or a live claim owns it
        try:
            require_no_transaction()
            result = call_out(attempt, **payload)
            with use_case_transaction():
                if _settle_mark(message_id=message_id):
                    settle(attempt, result, **payload)
        except Exception as exc:
            error = _describe(exc)
            if attempt.attempt >= max_attempts:
                with use_case_transaction():
                    if _give_up_now(attempt=attempt, error=error):
                        run_give_up(attempt, error, payload)
                return
            retry_in = backoff_seconds(attempt.attempt)
            _record_failure(attempt=attempt, error=error, retry_in_seconds=retry_in)
            raise self.retry(exc=exc, countdown=retry_in) from exc

    return task


def outbox_callout_reconcile(*, now: datetime | None = None) -> int:
    """Republish call-out jobs claimed but never settled whose claim (or backoff) has
    lapsed: their worker died, or their retry was lost. The next delivery claims them
    again, or gives up if their attempts are used up. Returns how many were published.
    Runs outside any transaction; locks nothing.
    """
    from tally.platform.outbox.services import outbox_publish

    now = now or timezone.now()
    due = (
        OutboxMessage.objects.filter(
            processed_at__isnull=True, claimed_at__isnull=False, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:RECONCILE_BATCH_SIZE]
    )
    return sum(outbox_publish(message_id=message_id) for message_id in list(due))
