"""Rows in every state of the notification machine (see tally/platform/testing/status.py)."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from tally.identity.tests.factories import UserFactory
from tally.notifications.models import Notification, NotificationKind, NotificationStatus
from tally.platform.testing.status import StatusSample


def _fields_for(target: str) -> dict[str, Any]:
    if target == NotificationStatus.SENT:
        return {"sent_at": timezone.now()}
    if target == NotificationStatus.FAILED:
        return {"failed_at": timezone.now()}
    return {}


def _notification_in(state: str) -> Notification:
    user = UserFactory()
    return Notification.objects.create(
        user=user,
        recipient=user.email,
        kind=NotificationKind.SUBSCRIPTION_EXPIRED,
        dedup_key=uuid.uuid4().hex,
        status=state,
        **_fields_for(state),
    )


STATUS_SAMPLES = {Notification: StatusSample(row_in=_notification_in, fields_for=_fields_for)}
