"""Production settings: external PostgreSQL and Redis only, secure defaults."""

from __future__ import annotations

import os

os.environ.setdefault("TALLY_ALLOW_EMBEDDED", "false")

from django.core.exceptions import ImproperlyConfigured

from config.django.base import *  # noqa: F403
from config.env import env

# Keys that are public (in this repository): development's default and the test settings'.
_PUBLIC_SECRET_KEYS = frozenset(
    {
        "django-insecure-development-only-key-not-for-production",
        "test-only-secret-key-with-enough-length-for-hs256-signing",
    }
)


def checked_secret_key(key: str) -> str:
    """Refuse a weak or well-known key (Django's ``check --deploy`` only warns, W009): it
    signs sessions, password-reset links and JWTs, so a guessable one hands out any account."""
    if (
        len(key) < 50
        or len(set(key)) < 5
        or key.startswith("django-insecure")
        or key in _PUBLIC_SECRET_KEYS
    ):
        raise ImproperlyConfigured(
            "SECRET_KEY is weak or public: use at least 50 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'."
        )
    return key


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = checked_secret_key(env.str("SECRET_KEY"))
# /metrics answers only "Authorization: Bearer <METRICS_TOKEN>" (tally.platform.metrics).
METRICS_TOKEN = env.str("METRICS_TOKEN")
if len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 random characters.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TALLY_DEMO_DATA = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
