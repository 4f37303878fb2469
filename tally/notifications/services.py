"""Notifications: record one in the caller's transaction, deliver it by email afterwards.

The addressee is a user (sent to the user's current address) or, for a guest who bought
without an account, a plain email address.

``notification_send`` writes the notification and its outbox job in the transaction of the
change it reports, so an email goes out exactly when that change committed. Delivery is an
outbox call-out job (``tally/platform/outbox/callout.py``), because talking to an SMTP
server is calling an outside system: claim (commit) → send with no transaction open →
settle the notification ``sent``; a failed send is retried with backoff and, after
``NOTIFICATIONS_EMAIL_MAX_ATTEMPTS``, the notification is settled ``failed``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db import connection
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from tally.identity.models import User
from tally.notifications.models import Notification, NotificationKind, NotificationStatus
from tally.notifications.rendering import (
    NotificationAttachment,
    notification_context_check,
    notification_email,
)
from tally.platform.db import require_transaction, use_case
from tally.platform.outbox.callout import ERROR_MAX_CHARS, CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue
from tally.platform.status import status_transition

NOTIFICATION_DELIVER_TASK = "tally.notifications.notification_deliver"
DEDUP_KEY_MAX_LENGTH = 200
RECIPIENT_MAX_LENGTH = 254
RETRY_MAX_SECONDS = 1800.0


def notification_send(
    *,
    user: User | None = None,
    recipient: str | None = None,
    kind: str,
    context: dict[str, Any],
    dedup_key: str,
    attachments: Sequence[NotificationAttachment] = (),
) -> None:
    """Record a notification of ``kind`` for ``user`` (or a guest's ``recipient`` address)
    and queue its email.

    Name the addressee in exactly one way: ``user`` (the email goes to the user's address
    as it is now) or ``recipient``, the address of a guest who has no account (it is sent
    there as given; the notification has no user). Both, or neither, is a programming
    error (``ValueError``).

    Runs in the caller's transaction (``require_transaction``): the notification and its
    delivery job commit with the caller's change, and a rollback leaves neither, so nothing
    is sent. ``dedup_key`` names the event: a second call with the same key, before or
    after the first committed, concurrently or not, records nothing and sends nothing (one
    ``INSERT … ON CONFLICT DO NOTHING``; a concurrent caller waits for the first
    transaction and is a no-op once it commits). ``context`` must hold the keys ``kind``
    needs (see ``tally.notifications.rendering.REQUIRED_CONTEXT`` and
    docs/notifications.md); datetimes are stored as ISO 8601 text. ``attachments`` are
    files in Django's default storage, read when the email is delivered (after this
    transaction commits), so the caller writes them before and keeps them. Raises
    ``ValueError`` for an unknown kind, a missing key, an empty or too long ``dedup_key``,
    a malformed attachment, or an addressee named twice, not at all or without a valid
    address (programming errors), writing nothing.

    Locks: the new notification row (and waits on a concurrent insert of the same key).
    Enqueues: ``tally.notifications.notification_deliver`` when it records the notification.
    """
    require_transaction()
    address = _address_of(user=user, recipient=recipient)
    kind = NotificationKind(kind)
    notification_context_check(kind=kind, context=context)
    files = [attachment.as_json() for attachment in attachments]
    if not dedup_key or len(dedup_key) > DEDUP_KEY_MAX_LENGTH:
        raise ValueError(f"dedup_key must have 1 to {DEDUP_KEY_MAX_LENGTH} characters")
    notification_id = uuid.uuid4()
    table = connection.ops.quote_name(Notification._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, user_id, recipient, kind, context, attachments, "  # noqa: S608  # nosec B608  # table and column names from the models; values are parameters
            "dedup_key, status, attempts, last_error, created_at) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, 0, '', %s) "
            "ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
            [
                notification_id,
                user.pk if user is not None else None,
                address,
                str(kind),
                json.dumps(context, cls=DjangoJSONEncoder),
                json.dumps(files),
                dedup_key,
                NotificationStatus.QUEUED.value,
                timezone.now(),
            ],
        )
        recorded = cursor.fetchone() is not None
    if recorded:
        outbox_enqueue(
            task_name=NOTIFICATION_DELIVER_TASK, payload={"notification_id": str(notification_id)}
        )


def _address_of(*, user: User | None, recipient: str | None) -> str:
    """The address to send to: the user's email as it is now, or the guest's ``recipient``
    (which must be one valid address; a user's was validated when it was set)."""
    if (user is None) == (recipient is None):
        raise ValueError("notification_send needs exactly one of user and recipient")
    if user is not None:
        return user.email
    if not isinstance(recipient, str) or len(recipient) > RECIPIENT_MAX_LENGTH:
        raise ValueError(f"recipient is not an email address: {recipient!r}")
    try:
        validate_email(recipient)
    except ValidationError:
        raise ValueError(f"recipient is not an email address: {recipient!r}") from None
    return recipient


@use_case
def notification_attempt_start(*, notification_id: str, attempt: int) -> Notification | None:
    """Record that delivery attempt ``attempt`` starts; return the notification, or None if
    it is no longer queued. Its own short transaction, committed before the send. Locks the
    row for that update only. Enqueues nothing."""
    started = Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.QUEUED
    ).update(attempts=Greatest(F("attempts"), attempt))
    if not started:
        return None
    return Notification.objects.get(pk=notification_id)


@use_case
def notification_attempt_fail(*, notification_id: str, attempt: int, error: str) -> None:
    """Record why attempt ``attempt`` failed (the notification stays queued for a retry).
    Locks the row for that update only. Enqueues nothing."""
    Notification.objects.filter(pk=notification_id, status=NotificationStatus.QUEUED).update(
        attempts=Greatest(F("attempts"), attempt), last_error=error[:ERROR_MAX_CHARS]
    )


def _retry_in_seconds(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt``: the configured base, doubling."""
    base = float(settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS)
    return min(RETRY_MAX_SECONDS, base * 2 ** min(attempt - 1, 16))


def _send(attempt: CallOutAttempt, *, notification_id: str) -> dict[str, Any]:
    """Call out: hand the email to the mail server, with no transaction open."""
    notification = notification_attempt_start(
        notification_id=notification_id, attempt=attempt.attempt
    )
    if notification is None:
        return {"sent": False}
    try:
        notification_email(notification=notification).send(fail_silently=False)
    except Exception as exc:
        notification_attempt_fail(
            notification_id=notification_id,
            attempt=attempt.attempt,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    return {"sent": True}


def _settle(attempt: CallOutAttempt, result: dict[str, Any], *, notification_id: str) -> None:
    """Settle, once per job, in the outbox's transaction: the server took it → ``sent``."""
    if not result["sent"]:
        return
    status_transition(
        instance=Notification.objects.get(pk=notification_id),
        to=NotificationStatus.SENT,
        actor=None,
        action="notification.sent",
        fields={"sent_at": timezone.now(), "attempts": attempt.attempt},
        no_op_states=(NotificationStatus.SENT,),
    )


def _give_up(attempt: CallOutAttempt, error: str, *, notification_id: str) -> None:
    """The last attempt failed (or its worker vanished): the notification is ``failed``."""
    status_transition(
        instance=Notification.objects.get(pk=notification_id),
        to=NotificationStatus.FAILED,
        actor=None,
        action="notification.failed",
        fields={
            "failed_at": timezone.now(),
            "attempts": attempt.attempt,
            "last_error": error[:ERROR_MAX_CHARS],
        },
        changes={"last_error": [None, error[:ERROR_MAX_CHARS]]},
        no_op_states=(NotificationStatus.FAILED,),
    )


notification_deliver = outbox_callout_task(
    NOTIFICATION_DELIVER_TASK,
    call_out=_send,
    settle=_settle,
    give_up=_give_up,
    max_attempts=settings.NOTIFICATIONS_EMAIL_MAX_ATTEMPTS,
    claim_timeout_seconds=settings.NOTIFICATIONS_EMAIL_CLAIM_TIMEOUT_SECONDS,
    backoff_seconds=_retry_in_seconds,
)
