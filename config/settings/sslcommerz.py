"""SSLCommerz gateway settings (12-factor)."""

from __future__ import annotations

from config.env import env  # noqa: F401
