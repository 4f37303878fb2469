"""Partners: signed activation callbacks (12-factor)."""

from __future__ import annotations

from config.env import env

# Attempts before a callback is given up (each logged as a CallbackAttempt).
PARTNERS_CALLBACK_MAX_ATTEMPTS = env.int("PARTNERS_CALLBACK_MAX_ATTEMPTS", default=8)
# One POST's limit; a timeout is a failed attempt, retried.
PARTNERS_CALLBACK_TIMEOUT_SECONDS = env.float("PARTNERS_CALLBACK_TIMEOUT_SECONDS", default=10.0)
# Backoff after failed attempt n: base * 2**(n-1), capped.
PARTNERS_CALLBACK_BACKOFF_SECONDS = env.float("PARTNERS_CALLBACK_BACKOFF_SECONDS", default=10.0)
PARTNERS_CALLBACK_BACKOFF_MAX_SECONDS = env.float(
    "PARTNERS_CALLBACK_BACKOFF_MAX_SECONDS", default=3600.0
)
