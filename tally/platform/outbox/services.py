"""Transactional outbox: enqueue in the caller's transaction, publish after commit, sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from celery import current_app, shared_task
from celery.app.task import Task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from tally.platform.audit.services import audit_record
from tally.platform.db import require_transaction, use_case_transaction
from tally.platform.exceptions import InvalidStateError, NotFoundError, PermissionDeniedError
from tally.platform.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

SWEEP_BATCH_SIZE = 500


def outbox_enqueue(*, task_name: str, payload: dict[str, Any]) -> OutboxMessage:
    """Record a job in the caller's transaction and publish it once that transaction commits.

    Must run inside ``transaction.atomic``. Locks nothing. If the publish after commit fails,
    the sweeper publishes the message later.
    """
    require_transaction()
    message = OutboxMessage.objects.create(task_name=task_name, payload=payload)
    transaction.on_commit(lambda: outbox_publish(message_id=message.id), robust=True)
    return message


def _send(message: OutboxMessage) -> None:
    """Hand one message to the broker. Separate so tests can make the broker fail."""
    current_app.send_task(
        message.task_name,
        kwargs={"message_id": message.id, **message.payload},
        task_id=f"outbox-{message.id}-{message.publish_attempts + 1}",
    )


def outbox_publish(*, message_id: int) -> bool:
    """Send a committed message to the broker; return whether the broker accepted it.

    Runs outside any transaction. A failure is logged and left for the sweeper.
    """
    message = OutboxMessage.objects.filter(id=message_id, processed_at__isnull=True).first()
    if message is None:
        return False
    try:
        _send(message)
    except Exception:  # the broker can fail in many ways; the sweeper retries all of them
        logger.warning("outbox publish failed", extra={"message_id": message_id}, exc_info=True)
        OutboxMessage.objects.filter(id=message_id).update(
            publish_attempts=F("publish_attempts") + 1
        )
        return False
    OutboxMessage.objects.filter(id=message_id).update(
        published_at=timezone.now(), publish_attempts=F("publish_attempts") + 1
    )
    return True


def outbox_sweep(*, now: Any = None) -> int:
    """Re-publish messages not yet processed: never published after a grace period, or
    published long enough ago that the broker has evidently lost them. Returns how many
    were published. Tasks are idempotent, so a spare delivery is harmless.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.OUTBOX_REPUBLISH_AFTER_SECONDS)
    due = (
        OutboxMessage.objects.filter(processed_at__isnull=True, created_at__lt=cutoff)
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=cutoff))
        # A call-out job whose claim (or backoff) still runs is left to its worker; the
        # reconciler (outbox_callout_reconcile) republishes it when that lapses.
        .exclude(next_attempt_at__gt=now)
        .order_by("created_at")
        .values_list("id", flat=True)[:SWEEP_BATCH_SIZE]
    )
    return sum(outbox_publish(message_id=message_id) for message_id in list(due))


def outbox_message_retry(*, actor: Any, message_id: int) -> bool:
    """An admin republishes a job that has not run yet, now, through ``outbox_publish``
    (what the relay and the sweeper call); returns whether the broker accepted it (if not,
    the sweeper keeps trying). Exactly-once stays the job's: a plain job's processed marker
    and a call-out job's claim make a spare delivery do nothing.

    Writes the audit row ``outbox_message.retried`` (its use case's transaction, before the
    publish). Refuses, writing nothing: 403 for anyone but an admin (``actor.is_admin``:
    the platform does not know roles otherwise); 404 for an unknown job; 409
    ``invalid_state`` for a job that ran, one that gave up (its use case recorded the
    failure; it must not run again), and a call-out job that a worker holds or that backs
    off until its next attempt (the claim would refuse it anyway). Locks the job's row
    while deciding (the job's row is committed already, so the publish may follow at once).
    """
    if not getattr(actor, "is_admin", False):
        raise PermissionDeniedError("Only admins can do this.")
    with use_case_transaction():
        message = OutboxMessage.objects.select_for_update().filter(id=message_id).first()
        if message is None:
            raise NotFoundError("No such job.")
        if message.failed_at is not None:
            error = message.last_error or "no error recorded"
            raise InvalidStateError(
                f"This job gave up after {message.attempts} attempt(s) ({error}); its use "
                "case recorded the failure, so it does not run again."
            )
        if message.processed_at is not None:
            raise InvalidStateError("This job has run; it does not run again.")
        now = timezone.now()
        if message.next_attempt_at is not None and message.next_attempt_at > now:
            raise InvalidStateError(
                "A worker holds this job or it waits for its next attempt, until "
                f"{message.next_attempt_at:%Y-%m-%d %H:%M:%S %Z}; retry after that."
            )
        audit_record(
            actor=actor,
            action="outbox_message.retried",
            target=message,
            changes={"publish_attempts": [message.publish_attempts, message.publish_attempts + 1]},
        )
    return outbox_publish(message_id=message_id)


def _claim(message_id: int) -> bool:
    """Insert the processed marker; False when another delivery already did (or is doing) it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO platform_processedmessage (message_id, processed_at) "
            "SELECT id, now() FROM platform_outboxmessage WHERE id = %s "
            "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            [message_id],
        )
        claimed = cursor.fetchone() is not None
    if claimed:
        OutboxMessage.objects.filter(id=message_id).update(processed_at=timezone.now())
    return claimed


def outbox_task(name: str) -> Callable[[Callable[..., None]], Task]:
    """Declare a Celery task fed by the outbox that runs its handler exactly once.

    The handler runs in one transaction (``use_case_transaction``: durable, as a task is
    outermost) together with the processed marker, so its
    database effects and the marker commit together: a redelivered, duplicated or
    concurrently delivered message does nothing the second time. Business failures must be
    recorded by the handler (and not raised); an unexpected exception rolls everything back
    and the message is retried.
    """

    def decorator(handler: Callable[..., None]) -> Task:
        @shared_task(name=name, bind=True, max_retries=None, acks_late=True)
        @wraps(handler)
        def task(self: Task, message_id: int, **payload: Any) -> None:
            try:
                with use_case_transaction():
                    if not _claim(message_id):
                        return
                    handler(**payload)
            except Exception as exc:
                countdown = min(300, 2 ** min(self.request.retries, 8))
                raise self.retry(exc=exc, countdown=countdown) from exc

        return task

    return decorator
