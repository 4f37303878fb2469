"""SSLCommerz gateway settings (12-factor). Used when PAYMENTS_CARD_GATEWAY=sslcommerz.

The defaults speak to the local sandbox (``python -m tally.payments.sslcommerz_sandbox``,
started by ``make run``). In production set the store's credentials and the gateway's URL
(https://sandbox.sslcommerz.com for a test store, https://securepay.sslcommerz.com live),
and the public base URL the gateway and the buyer's browser reach Tally at.
"""

from __future__ import annotations

from config.env import env

# The store's credentials (the store password also verifies notifications' signatures).
SSLCOMMERZ_STORE_ID = env.str("SSLCOMMERZ_STORE_ID", default="tallysandbox")
SSLCOMMERZ_STORE_PASSWORD = env.str("SSLCOMMERZ_STORE_PASSWORD", default="tallysandbox@ssl")
# The gateway's base URL (session, validation, query and refund APIs).
SSLCOMMERZ_API_URL = env.str("SSLCOMMERZ_API_URL", default="http://127.0.0.1:8098")
# Where the gateway posts notifications (…/api/v1/payments/webhooks/sslcommerz/) and sends
# the buyer back (…/api/v1/payments/sslcommerz/success|fail|cancel/): Tally's public URL.
SSLCOMMERZ_PUBLIC_BASE_URL = env.str("SSLCOMMERZ_PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# The local sandbox (tally/payments/sslcommerz_sandbox.py): its port, and the BDT rate it
# converts other currencies at (as the real gateway converts to BDT).
SSLCOMMERZ_SANDBOX_PORT = env.int("SSLCOMMERZ_SANDBOX_PORT", default=8098)
SSLCOMMERZ_SANDBOX_BDT_RATE = env.str("SSLCOMMERZ_SANDBOX_BDT_RATE", default="110.00")
# A hosted session not paid within this long ends EXPIRED (the payment is then declined
# ``session_expired`` by the reconcile job, and the order can expire and release its stock).
SSLCOMMERZ_SANDBOX_SESSION_MINUTES = env.float("SSLCOMMERZ_SANDBOX_SESSION_MINUTES", default=30.0)
