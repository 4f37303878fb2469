"""Marketplace orders and the catalog's stock counters (12-factor)."""

from __future__ import annotations

from config.env import env

# An unpaid order is cancelled (and its stock released) this long after it was placed.
ORDER_PAYMENT_TIMEOUT_MINUTES = env.int("ORDER_PAYMENT_TIMEOUT_MINUTES", default=30)
# Limits of one order: distinct lines, and units of one line.
ORDER_MAX_LINES = env.int("ORDER_MAX_LINES", default=50)
ORDER_MAX_QUANTITY = env.int("ORDER_MAX_QUANTITY", default=100)
# Flat shipping fee per order (decimal, the order's currency) and the tax rate in percent of
# the subtotal (rounded half up to the minor unit).
ORDER_SHIPPING_FEE = env.str("ORDER_SHIPPING_FEE", default="0.00")
ORDER_TAX_RATE_PERCENT = env.str("ORDER_TAX_RATE_PERCENT", default="0")
# The link in a guest's order email: where the guest opens its order (the API's order
# resource by default; a storefront page in production). ``{order_id}`` and ``{token}`` are
# filled in; it must be an absolute http(s) URL.
ORDER_GUEST_LINK = env.str(
    "ORDER_GUEST_LINK", default="http://127.0.0.1:8000/api/v1/orders/{order_id}/?token={token}"
)

# The Redis counters that refuse sold-out variants before the database (tally.catalog.stock_counter):
# their server (the main Redis when empty), time to live, and socket timeout.
CATALOG_STOCK_REDIS_URL = env.str("CATALOG_STOCK_REDIS_URL", default="")
CATALOG_STOCK_COUNTER_SECONDS = env.int("CATALOG_STOCK_COUNTER_SECONDS", default=300)
CATALOG_STOCK_REDIS_TIMEOUT_SECONDS = env.float("CATALOG_STOCK_REDIS_TIMEOUT_SECONDS", default=0.5)
