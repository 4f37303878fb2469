"""Development settings: what `make run` uses. Never deploy these."""

from __future__ import annotations

from config.django.base import *  # noqa: F403
from config.env import env

# DEBUG stays off unless asked for, so errors look the same (problem+json) as in production.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-development-only-key-not-for-production"
)
TALLY_DEMO_DATA = True
