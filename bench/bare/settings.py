"""Settings of the bare reference app: only what Django needs to answer a request and reach
PostgreSQL. Nothing from Tally's settings: no middleware, no installed apps, no templates."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

_database = urlsplit(os.environ["BARE_DATABASE_URL"])

# The bench gives every process its own throwaway key (bench/stack.py).
SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.bare.app"
WSGI_APPLICATION = "bench.bare.wsgi.application"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
USE_TZ = True
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _database.path.lstrip("/"),
        "USER": unquote(_database.username or "postgres"),
        "PASSWORD": unquote(_database.password or ""),
        # The host may be a percent-encoded socket directory (the embedded server).
        "HOST": unquote(_database.netloc.rpartition("@")[2].partition(":")[0]),
        "PORT": str(_database.port or ""),
        # One connection per worker process, opened once and kept.
        "CONN_MAX_AGE": None,
    }
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
