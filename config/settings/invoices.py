"""Invoices: who issues them, how they are numbered and how rendering is retried (12-factor).

Invoice PDFs are kept in Django's default storage (``STORAGES["default"]``): files under
``MEDIA_ROOT`` in development, any Django storage (e.g. an S3 bucket through
django-storages) in production. They are served only through ``GET
orders/{id}/invoice/``, which checks who asks: never serve ``MEDIA_ROOT`` publicly.
"""

from __future__ import annotations

from config.env import env

# MEDIA_ROOT is set in config/django/base.py (``var/media``); the URL is only a prefix Django
# requires for FileField URLs, nothing serves it.
MEDIA_URL = env.str("MEDIA_URL", default="/media/")

# The seller printed at the top of every invoice.
INVOICE_SELLER_NAME = env.str("INVOICE_SELLER_NAME", default="Tally marketplace")
INVOICE_SELLER_ADDRESS = env.str("INVOICE_SELLER_ADDRESS", default="")
INVOICE_SELLER_TAX_ID = env.str("INVOICE_SELLER_TAX_ID", default="")
# Numbers read "<prefix>-<year>-<sequence, 6 digits>" (INV-2026-000001), gapless per year.
INVOICE_NUMBER_PREFIX = env.str("INVOICE_NUMBER_PREFIX", default="INV")
# Where the PDFs go inside the storage: <prefix>/<year>/<number>-<random>.pdf.
INVOICE_STORAGE_PREFIX = env.str("INVOICE_STORAGE_PREFIX", default="invoices")

# Rendering and storing a PDF is tried this many times in all, waiting
# INVOICE_RENDER_RETRY_SECONDS * 2 ** (attempt - 1) (at most 10 minutes) after each failed
# attempt; then the invoice is marked failed (an admin can render it again).
INVOICE_RENDER_MAX_ATTEMPTS = env.int("INVOICE_RENDER_MAX_ATTEMPTS", default=6)
INVOICE_RENDER_RETRY_SECONDS = env.float("INVOICE_RENDER_RETRY_SECONDS", default=5.0)
# An attempt older than this is presumed dead (its worker crashed) and is tried again: keep
# it well above the time a render and an upload take.
INVOICE_RENDER_CLAIM_TIMEOUT_SECONDS = env.float(
    "INVOICE_RENDER_CLAIM_TIMEOUT_SECONDS", default=120.0
)
