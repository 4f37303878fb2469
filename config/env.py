"""Environment access for settings: 12-factor, with a ``.env`` file read if present."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TALLY_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def database_config(url: str) -> dict[str, Any]:
    """Parse a ``DATABASE_URL``; a percent-encoded host is a Unix socket directory."""
    config: dict[str, Any] = environ.Env.db_url_config(url)
    config["HOST"] = unquote(config.get("HOST") or "")
    return config


def prepare_threshold(value: str) -> int | None:
    """``DATABASE_PREPARE_THRESHOLD``: after how many runs psycopg prepares a statement on a
    connection (0: at once); ``off`` (or ``none``) never prepares."""
    if value.strip().lower() in ("off", "none", ""):
        return None
    threshold = int(value)
    if threshold < 0:
        raise environ.ImproperlyConfigured("DATABASE_PREPARE_THRESHOLD must be 0 or more, or off.")
    return threshold


def service_urls(*, allow_embedded: bool) -> tuple[str, str]:
    """Return (DATABASE_URL, REDIS_URL), starting the embedded servers when both are unset.

    Only one of the two set is a configuration mistake and is refused, so a half-configured
    process never writes to a database nobody meant to use.
    """
    database_url = env.str("DATABASE_URL", default="")
    redis_url = env.str("REDIS_URL", default="")
    if database_url and redis_url:
        return database_url, redis_url
    if database_url or redis_url or not allow_embedded:
        raise environ.ImproperlyConfigured(
            "Set both DATABASE_URL and REDIS_URL (embedded servers are for development only)."
        )
    from tally.platform.embedded import ensure_servers

    servers = ensure_servers(VAR_DIR)
    # Children (gunicorn workers, Celery, subprocess-based tests) attach to the same servers.
    os.environ["DATABASE_URL"] = servers.database_url
    os.environ["REDIS_URL"] = servers.redis_url
    return servers.database_url, servers.redis_url
