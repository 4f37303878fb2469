"""What each kind of notification says: the context keys it needs and its email.

Each kind has three templates in ``templates/notifications/``: ``<kind>.subject.txt``,
``<kind>.txt`` (the plain-text part) and ``<kind>.html`` (the HTML part, extending
``base.html``). The keys below are the contract with the callers (docs/notifications.md).
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.core.validators import URLValidator
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
    NotificationKind.ORDER_PLACED: (
        "name",
        "order_number",
        "total",
        "currency",
        "items",
        "payment_due_at",
    ),
    NotificationKind.ORDER_CANCELLED: ("name", "order_number", "reason"),
    NotificationKind.INVOICE_ISSUED: (
        "name",
        "order_number",
        "invoice_number",
        "total",
        "currency",
    ),
    NotificationKind.LOW_CREDIT: ("name", "balance", "threshold", "currency"),
}
# Keys any kind may carry: shown when present (``currency`` after the price, ``reference``
# on the subscription kinds, ``auto_renew`` on the reminder, ``order_url`` on a placed
# order: a guest's link to it).
OPTIONAL_CONTEXT = ("currency", "reference", "auto_renew", "order_url")
# Keys holding a moment: a timezone-aware datetime or its ISO 8601 text.
DATETIME_KEYS = ("expires_at", "payment_due_at")
# Keys holding text the templates show (when present and not None).
TEXT_KEYS = (
    "customer_name",
    "offer_name",
    "price",
    "reference",
    "failure_reason",
    "name",
    "order_number",
    "total",
    "currency",
    "reason",
    "order_url",
    "invoice_number",
    "balance",
    "threshold",
)
# Keys holding a list of lines, and what each line needs: ``items`` of a placed order is
# one line per item (``variant`` is optional: the tier's name, shown after the title).
ITEM_TEXT_KEYS = ("title", "line_total")
LIST_KEYS = ("items",)
_URL = URLValidator(schemes=["http", "https"])


class NotificationContextError(ValueError):
    """A caller passed a context its kind's templates cannot render (a programming error)."""


ATTACHMENT_PATH_MAX_LENGTH = 500
ATTACHMENT_FILENAME_MAX_LENGTH = 200


@dataclass(frozen=True)
class NotificationAttachment:
    """A file sent with a notification: its name in Django's default storage (read when
    the email is delivered, so it must exist by then and stay until it is sent), the file
    name the reader sees (default: the stored name's last part) and its MIME type
    (default: guessed from that file name)."""

    path: str
    filename: str = ""
    content_type: str = ""

    def as_json(self) -> dict[str, str]:
        """The stored form; raises ``NotificationContextError`` for a malformed one."""
        if not isinstance(self.path, str) or not self.path:
            raise NotificationContextError(f"attachment path must be text, not {self.path!r}")
        if len(self.path) > ATTACHMENT_PATH_MAX_LENGTH:
            raise NotificationContextError("attachment path is too long")
        filename = self.filename or posixpath.basename(self.path)
        if (
            not isinstance(filename, str)
            or not filename
            or len(filename) > ATTACHMENT_FILENAME_MAX_LENGTH
            or any(char in filename for char in '/\\"\r\n')
        ):
            raise NotificationContextError(f"attachment filename is not valid: {filename!r}")
        content_type = (
            self.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        return {"path": self.path, "filename": filename, "content_type": content_type}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> NotificationAttachment:
        return cls(
            path=str(value["path"]),
            filename=str(value.get("filename") or ""),
            content_type=str(value.get("content_type") or ""),
        )


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
    with text where text is shown, an aware moment (or its ISO 8601 text) in
    ``expires_at`` and ``payment_due_at``, at least one well-formed line in ``items``, and
    an http(s) address in ``order_url``. Extra keys are allowed and stored."""
    missing = [key for key in REQUIRED_CONTEXT[kind] if _is_empty(context.get(key))]
    if missing:
        raise NotificationContextError(f"{kind} needs context keys {missing}")
    for key in DATETIME_KEYS:
        if key in context and _moment(context[key]) is None:
            raise NotificationContextError(
                f"{kind}: {key} must be a timezone-aware datetime or ISO 8601 text"
            )
    for key in TEXT_KEYS:
        if context.get(key) is not None and not isinstance(context[key], str):
            raise NotificationContextError(f"{kind}: {key} must be text, not {context[key]!r}")
    for key in LIST_KEYS:
        if key in context:
            _lines_check(kind=kind, key=key, lines=context[key])
    if context.get("order_url"):
        try:
            _URL(context["order_url"])
        except ValidationError:
            raise NotificationContextError(
                f"{kind}: order_url must be an http(s) URL, not {context['order_url']!r}"
            ) from None


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list) and len(value) == 0)


def _lines_check(*, kind: str, key: str, lines: Any) -> None:
    """Each line: ``title`` and ``line_total`` as text, ``quantity`` a positive integer,
    ``variant`` text if given."""
    if not isinstance(lines, list) or not lines:
        raise NotificationContextError(f"{kind}: {key} must be a list of at least one line")
    for number, line in enumerate(lines):
        if not isinstance(line, dict):
            raise NotificationContextError(f"{kind}: {key}[{number}] must be a dict, not {line!r}")
        for field in ITEM_TEXT_KEYS:
            if not isinstance(line.get(field), str) or not line[field]:
                raise NotificationContextError(f"{kind}: {key}[{number}] needs {field} as text")
        if line.get("variant") is not None and not isinstance(line["variant"], str):
            raise NotificationContextError(f"{kind}: {key}[{number}].variant must be text")
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise NotificationContextError(
                f"{kind}: {key}[{number}].quantity must be a positive integer, not {quantity!r}"
            )


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
    """The email of ``notification``: both parts and its attachments (read from the
    default storage now), to its recipient, from ``DEFAULT_FROM_EMAIL``. Its ``Message-ID`` is the notification's, the same on every
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
    for stored in notification.attachments or []:
        attachment = NotificationAttachment.from_json(stored).as_json()
        with default_storage.open(attachment["path"], "rb") as file:
            message.attach(attachment["filename"], file.read(), attachment["content_type"])
    return message
