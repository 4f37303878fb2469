"""Vendor credit: the maker-checker threshold for credit requests, low-credit alert
webhooks (12-factor)."""

from __future__ import annotations

from config.env import env

# Maker-checker: a credit request whose amount is above this many minor units of the ledger
# currency needs two approvals by two different admins before the vendor is credited; at or
# below it, one approval credits as before. The default, 1,000,000, is 10,000.00.
CREDIT_SECOND_APPROVAL_ABOVE_MINOR = env.int(
    "CREDIT_SECOND_APPROVAL_ABOVE_MINOR", default=1_000_000
)

# Low-credit alert webhooks (docs/alerts.md): attempts before one is given up, one POST's
# limit, and the backoff after failed attempt n (base * 2**(n-1), at most an hour).
LOW_CREDIT_WEBHOOK_MAX_ATTEMPTS = env.int("LOW_CREDIT_WEBHOOK_MAX_ATTEMPTS", default=8)
LOW_CREDIT_WEBHOOK_TIMEOUT_SECONDS = env.float("LOW_CREDIT_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
LOW_CREDIT_WEBHOOK_BACKOFF_SECONDS = env.float("LOW_CREDIT_WEBHOOK_BACKOFF_SECONDS", default=10.0)
# Refuse to POST an alert to a loopback, private, link-local or otherwise reserved address
# (a vendor chooses the URL: it must not reach the services beside Tally). Allow them only
# where the receiver runs on the same machine or network (development, tests).
LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False
)
