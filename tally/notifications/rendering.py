"""What each kind of notification says: the context keys it needs and its email.

Each kind has three templates in ``templates/notifications/``: ``<kind>.subject.txt``,
``<kind>.txt`` (the plain-text part) and ``<kind>.html`` (the HTML part, extending
``base.html``). The keys below are the contract with the callers (docs/notifications.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from tally.notifications.models import Notification, NotificationKind

# The keys each kind's templates need; a call without one of them is a programming error.
REQUIRED_CONTEXT: dict[str, tuple[str, ...]] = {
    NotificationKind.ACTIVATION_SUCCEEDED: (
        "customer_name",
        "offer_name",
        "price",
        "reference",
        "expires_at",
    ),
    NotificationKind.ACTIVATION_FAILED: (
        "customer_name",
        "offer_name",
        "price",
        "reference",
        "failure_reason",
    ),
    NotificationKind.SUBSCRIPTION_EXPIRING: ("customer_name", "offer_name", "expires_at"),
    NotificationKind.SUBSCRIPTION_RENEWED: (
        "customer_name",
        "offer_name",
        "price",
        "reference",
        "expires_at",
    ),
    NotificationKind.SUBSCRIPTION_EXPIRED: ("customer_name", "offer_name", "expires_at"),
}
# Keys any kind may carry: shown when present (``currency`` after the price, ``reference``
# on the subscription kinds, ``auto_renew`` on the reminder).
OPTIONAL_CONTEXT = ("currency", "reference", "auto_renew")
# Keys holding a moment: a timezone-aware datetime or its ISO 8601 text.
DATETIME_KEYS = ("expires_at",)


class NotificationContextError(ValueError):
    """A caller passed a context its kind's templates cannot render (a programming error)."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        return parsed if parsed is not None and parsed.tzinfo is not None else None
    return None


def notification_context_check(*, kind: str, context: dict[str, Any]) -> None:
    """Raise ``NotificationContextError`` unless ``context`` has every key ``kind`` needs,
    with text where text is shown and an aware moment (or its ISO 8601 text) in
    ``expires_at``. Extra keys are allowed and stored."""
    missing = [key for key in REQUIRED_CONTEXT[kind] if context.get(key) in (None, "")]
    if missing:
        raise NotificationContextError(f"{kind} needs context keys {missing}")
    for key in DATETIME_KEYS:
        if key in context and _moment(context[key]) is None:
            raise NotificationContextError(
                f"{kind}: {key} must be a timezone-aware datetime or ISO 8601 text"
            )
    for key in ("customer_name", "offer_name", "price", "reference", "failure_reason"):
        if key in context and not isinstance(context[key], str):
            raise NotificationContextError(f"{kind}: {key} must be text, not {context[key]!r}")


def notification_render(*, kind: str, context: dict[str, Any]) -> RenderedEmail:
    """The subject, plain text and HTML of a notification of ``kind`` with ``context`` (as
    stored: moments may be ISO 8601 text; the templates get datetimes)."""
    values = dict(context)
    for key in DATETIME_KEYS:
        if key in values:
            values[key] = _moment(values[key])
    subject = render_to_string(f"notifications/{kind}.subject.txt", values)
    return RenderedEmail(
        # A header is one line, whatever the template's whitespace.
        subject=" ".join(subject.split()),
        text=render_to_string(f"notifications/{kind}.txt", values).strip() + "\n",
        html=render_to_string(f"notifications/{kind}.html", values),
    )


def _message_domain() -> str:
    address = parseaddr(str(settings.DEFAULT_FROM_EMAIL))[1]
    return address.rpartition("@")[2] or "tally.local"


def notification_email(*, notification: Notification) -> EmailMultiAlternatives:
    """The email of ``notification``: both parts, to its recipient, from
    ``DEFAULT_FROM_EMAIL``. Its ``Message-ID`` is the notification's, the same on every
    attempt, so a mail client shows a rare duplicate (a worker that crashed after the
    server accepted the message) as one message."""
    rendered = notification_render(kind=notification.kind, context=notification.context)
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=str(settings.DEFAULT_FROM_EMAIL),
        to=[notification.recipient],
        headers={
            "Message-ID": f"<notification-{notification.pk}@{_message_domain()}>",
            # RFC 3834: sent by a program, so auto-responders stay quiet.
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(rendered.html, "text/html")
    return message
