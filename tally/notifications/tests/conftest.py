from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from config.settings.email import email_settings
from tally.notifications.tests.smtp_server import SmtpServer, smtp_server_run


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpServer]:
    """A real SMTP server, and EMAIL_URL pointing at it (parsed as production parses it);
    failed deliveries are retried within a fraction of a second."""
    with smtp_server_run() as server:
        for key, value in email_settings(server.url).items():
            setattr(settings, key, value)
        settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 0.05
        yield server
