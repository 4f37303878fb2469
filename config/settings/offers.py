"""Offers: the provisioning provider, retries, renewals and reminders (12-factor)."""

from __future__ import annotations

from config.env import env

# Where the provisioning provider listens. The default is the provider simulator that
# `make run` starts on loopback (``python -m tally.offers.provider_simulator``); a real
# provider plugs in by pointing this at it, and, if it speaks another protocol, by naming
# an adapter class (a ``tally.offers.provisioning.ProvisioningAdapter``) below.
OFFERS_PROVIDER_URL = env.str("OFFERS_PROVIDER_URL", default="http://127.0.0.1:8099")
OFFERS_PROVIDER_ADAPTER = env.str(
    "OFFERS_PROVIDER_ADAPTER", default="tally.offers.provisioning.HttpProvisioningAdapter"
)
OFFERS_PROVIDER_API_KEY = env.str("OFFERS_PROVIDER_API_KEY", default="")
# One call's limit; a timeout is a transient failure, retried with backoff.
OFFERS_PROVIDER_TIMEOUT_SECONDS = env.float("OFFERS_PROVIDER_TIMEOUT_SECONDS", default=10.0)
# Attempts before an activation fails with provider_unavailable (its reservation voided).
OFFERS_PROVIDER_MAX_ATTEMPTS = env.int("OFFERS_PROVIDER_MAX_ATTEMPTS", default=6)
# Backoff after failed attempt n: base * 2**(n-1), capped.
OFFERS_PROVIDER_RETRY_BASE_SECONDS = env.float("OFFERS_PROVIDER_RETRY_BASE_SECONDS", default=2.0)
OFFERS_PROVIDER_RETRY_MAX_SECONDS = env.float("OFFERS_PROVIDER_RETRY_MAX_SECONDS", default=300.0)

# The simulator (``python -m tally.offers.provider_simulator``): where it listens, how long
# each call takes, and which share of calls fail (503, retried) or are refused (final).
OFFERS_PROVIDER_SIMULATOR_PORT = env.int("OFFERS_PROVIDER_SIMULATOR_PORT", default=8099)
OFFERS_PROVIDER_SIMULATOR_LATENCY_MS = env.int("OFFERS_PROVIDER_SIMULATOR_LATENCY_MS", default=200)
OFFERS_PROVIDER_SIMULATOR_FAILURE_RATE = env.float(
    "OFFERS_PROVIDER_SIMULATOR_FAILURE_RATE", default=0.05
)
OFFERS_PROVIDER_SIMULATOR_REJECT_RATE = env.float(
    "OFFERS_PROVIDER_SIMULATOR_REJECT_RATE", default=0.0
)

# A subscription expired less than this many days ago may still be renewed.
OFFERS_RENEW_GRACE_DAYS = env.int("OFFERS_RENEW_GRACE_DAYS", default=7)
# Customers are reminded this many days before a subscription expires (once per period).
OFFERS_REMINDER_DAYS = env.int("OFFERS_REMINDER_DAYS", default=3)
# How long an activation's live status stays in Redis at most: also how long a status left
# stale by a Redis outage during a settle can be served (after that, reads use PostgreSQL).
OFFERS_LIVE_STATUS_SECONDS = env.int("OFFERS_LIVE_STATUS_SECONDS", default=300)
# The public catalog's cache entries expire after this many seconds as a last resort (every
# change retires them at once anyway).
OFFERS_CATALOG_CACHE_SECONDS = env.int("OFFERS_CATALOG_CACHE_SECONDS", default=300)
