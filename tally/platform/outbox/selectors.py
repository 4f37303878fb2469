"""Reading the outbox: which jobs are done, waiting, stuck or failed (the admin's view).

A job's state, from its columns (``OutboxMessage``):

- ``processed``: it ran (``processed_at``), or a call-out job settled;
- ``failed``: a call-out job gave up after its last attempt (``failed_at``; its use case
  recorded the failure, e.g. voided a reservation), so it never runs again;
- ``waiting``: a worker holds its claim, or it backs off until ``next_attempt_at``;
- ``stuck``: not processed, older than ``OUTBOX_REPUBLISH_AFTER_SECONDS`` and never
  published or published that long ago: exactly what the sweeper republishes next;
- ``pending``: not processed, published or created within that grace period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from tally.platform.outbox.models import OutboxMessage

OutboxState = Literal["processed", "failed", "waiting", "stuck", "pending"]
OUTBOX_STATES: tuple[OutboxState, ...] = ("pending", "stuck", "waiting", "failed", "processed")


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.OUTBOX_REPUBLISH_AFTER_SECONDS)


def outbox_state_filter(*, state: OutboxState, now: datetime | None = None) -> Q:
    """The condition selecting the jobs in ``state`` at ``now``."""
    now = now or timezone.now()
    cutoff = _cutoff(now)
    unprocessed = Q(processed_at__isnull=True)
    waiting = unprocessed & Q(next_attempt_at__gt=now)
    stuck = (
        unprocessed
        & Q(created_at__lt=cutoff)
        & (Q(published_at__isnull=True) | Q(published_at__lt=cutoff))
        & ~Q(next_attempt_at__gt=now)
    )
    conditions: dict[OutboxState, Q] = {
        "processed": Q(processed_at__isnull=False, failed_at__isnull=True),
        "failed": Q(failed_at__isnull=False),
        "waiting": waiting,
        "stuck": stuck,
        "pending": unprocessed & ~Q(next_attempt_at__gt=now) & ~stuck,
    }
    return conditions[state]


def outbox_message_state(*, message: OutboxMessage, now: datetime | None = None) -> OutboxState:
    """The state of one job at ``now`` (the same rules as ``outbox_state_filter``)."""
    now = now or timezone.now()
    if message.failed_at is not None:
        return "failed"
    if message.processed_at is not None:
        return "processed"
    if message.next_attempt_at is not None and message.next_attempt_at > now:
        return "waiting"
    cutoff = _cutoff(now)
    published_long_ago = message.published_at is None or message.published_at < cutoff
    if message.created_at < cutoff and published_long_ago:
        return "stuck"
    return "pending"


def outbox_messages_in_state(
    *, state: OutboxState, now: datetime | None = None
) -> QuerySet[OutboxMessage]:
    """The jobs in ``state``, oldest first."""
    return OutboxMessage.objects.filter(outbox_state_filter(state=state, now=now)).order_by(
        "created_at"
    )
