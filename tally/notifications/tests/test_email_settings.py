"""EMAIL_URL picks Django's email backend the way docs/notifications.md says."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings.email import email_settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "consolemail://",
            {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"},
        ),
        (
            "smtp://127.0.0.1:2525",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": 2525,
            },
        ),
        (
            "smtp+tls://mailer:p%40ss%2Fw@smtp.example.com:587",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "smtp.example.com",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "mailer",
                "EMAIL_HOST_PASSWORD": "p@ss/w",
                "EMAIL_USE_TLS": True,
            },
        ),
        (
            "smtp+ssl://mailer:secret@smtp.example.com:465",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "smtp.example.com",
                "EMAIL_PORT": 465,
                "EMAIL_HOST_USER": "mailer",
                "EMAIL_HOST_PASSWORD": "secret",
                "EMAIL_USE_SSL": True,
            },
        ),
    ],
)
def test_email_url_sets_the_backend_and_leaves_the_rest_to_djangos_defaults(
    url: str, expected: dict[str, Any]
) -> None:
    assert email_settings(url) == {"EMAIL_FILE_PATH": "", **expected}
