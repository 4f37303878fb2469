from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings.email import email_settings
from tally.notifications.tests.smtp_server import SmtpServer, smtp_server_run


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Each test stores its PDFs in a folder of its own (the default storage's root)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpServer]:
    """A real SMTP server, and EMAIL_URL pointing at it (parsed as production parses it)."""
    with smtp_server_run() as server:
        for key, value in email_settings(server.url).items():
            setattr(settings, key, value)
        settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS = 0.05
        yield server
