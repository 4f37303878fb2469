"""Vendor credit: the maker-checker threshold for credit requests (12-factor)."""

from __future__ import annotations

from config.env import env

# Maker-checker: a credit request whose amount is above this many minor units of the ledger
# currency needs two approvals by two different admins before the vendor is credited; at or
# below it, one approval credits as before. The default, 1,000,000, is 10,000.00.
CREDIT_SECOND_APPROVAL_ABOVE_MINOR = env.int(
    "CREDIT_SECOND_APPROVAL_ABOVE_MINOR", default=1_000_000
)
