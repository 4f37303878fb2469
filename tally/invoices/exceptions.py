"""The invoices' domain errors (rendered as problem details by the platform's handler)."""

from __future__ import annotations

from tally.platform.exceptions import DomainError


class InvoiceNotReadyError(DomainError):
    """The order has no invoice to serve yet: not paid, or its PDF is still being made."""

    status_code = 404
    code = "invoice_not_ready"
    title = "Invoice not ready"
    default_detail = "This order has no invoice yet."
