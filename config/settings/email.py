"""Email: Django's email backend from ``EMAIL_URL``, and how notifications are delivered.

``EMAIL_URL`` picks the backend: ``consolemail://`` (the default: print to stdout, for
development), ``smtp://host:25``, ``smtp+tls://user:password@host:587`` (STARTTLS) or
``smtp+ssl://user:password@host:465`` (implicit TLS). See docs/notifications.md.
"""

from __future__ import annotations

from typing import Any

from config.env import env


def email_settings(url: str) -> dict[str, Any]:
    """Django's ``EMAIL_*`` settings for an ``EMAIL_URL``; parts the URL leaves out keep
    Django's defaults (``EMAIL_HOST`` ``localhost``, no login)."""
    return {key: value for key, value in env.email_url_config(url).items() if value is not None}


globals().update(email_settings(env.str("EMAIL_URL", default="consolemail://")))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tally <no-reply@tally.local>")
# One SMTP connect or command waits at most this long; a stalled server is a failed attempt.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT_SECONDS", default=10.0)

# A notification's delivery is tried this many times in all, waiting
# NOTIFICATIONS_EMAIL_RETRY_SECONDS * 2 ** (attempt - 1) (at most 30 minutes) after each
# failed attempt: 30 s, 1, 2, 4 and 8 min by default, then it is marked failed.
NOTIFICATIONS_EMAIL_MAX_ATTEMPTS = env.int("NOTIFICATIONS_EMAIL_MAX_ATTEMPTS", default=6)
NOTIFICATIONS_EMAIL_RETRY_SECONDS = env.float("NOTIFICATIONS_EMAIL_RETRY_SECONDS", default=30.0)
# A delivery attempt older than this is presumed dead (its worker crashed) and is retried:
# keep it well above EMAIL_TIMEOUT_SECONDS (a send is a connect plus a few commands).
NOTIFICATIONS_EMAIL_CLAIM_TIMEOUT_SECONDS = env.float(
    "NOTIFICATIONS_EMAIL_CLAIM_TIMEOUT_SECONDS", default=120.0
)
