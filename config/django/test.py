"""Test settings: real PostgreSQL and Redis (from the environment or embedded)."""

from __future__ import annotations

import os

from config.django.base import *  # noqa: F403
from config.django.base import CACHES, DATABASES, STATIC_ROOT
from config.env import VAR_DIR

DEBUG = False
SECRET_KEY = "test-only-secret-key-with-enough-length-for-hs256-signing"  # noqa: S105  # nosec B105  # test settings only
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# WhiteNoise expects the collected-static folder to exist even when nothing is collected.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Concurrency tests open many threads at once; each holds its own connection.
DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 60, "timeout": 30.0}
# Each run gets its own cache namespace and Celery queue on a shared Redis. Processes a test
# starts (a live gunicorn, a Celery worker) inherit the run id and so share both.
TEST_RUN_ID = os.environ.setdefault("TALLY_TEST_RUN_ID", str(os.getpid()))
CACHES["default"]["KEY_PREFIX"] = f"tally-test-{TEST_RUN_ID}"
CELERY_TASK_DEFAULT_QUEUE = f"tally-test-{TEST_RUN_ID}"
# Files the tests store (invoice PDFs) go to a folder of this run, shared with the processes
# it starts, not to var/media.
MEDIA_ROOT = VAR_DIR / "test-media" / TEST_RUN_ID
# Limits are exercised by their own tests (override_settings); elsewhere they stay out of the way.
TALLY_RATE_LIMITS = {
    name: "off" for name in ("money", "write", "read", "login", "login_address", "register")
}
TALLY_DEMO_DATA = False
