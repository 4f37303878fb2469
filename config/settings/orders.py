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

# Payments (tally.payments): the gateway of card-like methods (credit and debit cards,
# PayPal, crypto): "sandbox" (test cards, in process) or "sslcommerz".
PAYMENTS_CARD_GATEWAY = env.str("PAYMENTS_CARD_GATEWAY", default="sandbox")
# The platform's commission in percent of each order line (the vendor gets the rest).
PAYMENTS_COMMISSION_PERCENT = env.str("PAYMENTS_COMMISSION_PERCENT", default="10")
# One gateway call's limit; attempts before the job gives up (the payment stays initiated
# for the reconcile job); backoff between attempts.
PAYMENTS_GATEWAY_TIMEOUT_SECONDS = env.float("PAYMENTS_GATEWAY_TIMEOUT_SECONDS", default=10.0)
PAYMENTS_GATEWAY_MAX_ATTEMPTS = env.int("PAYMENTS_GATEWAY_MAX_ATTEMPTS", default=5)
PAYMENTS_GATEWAY_RETRY_BASE_SECONDS = env.float("PAYMENTS_GATEWAY_RETRY_BASE_SECONDS", default=2.0)
PAYMENTS_GATEWAY_RETRY_MAX_SECONDS = env.float("PAYMENTS_GATEWAY_RETRY_MAX_SECONDS", default=300.0)
# The reconcile job asks the gateway about payments in flight for longer than this.
PAYMENTS_RECONCILE_AFTER_SECONDS = env.int("PAYMENTS_RECONCILE_AFTER_SECONDS", default=300)
