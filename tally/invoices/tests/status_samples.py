"""Invoices in every state of their machine (see tally/platform/testing/status.py)."""

from __future__ import annotations

import itertools
from typing import Any

from django.db.models import Model
from django.utils import timezone

from tally.invoices.models import Invoice, InvoiceStatus
from tally.orders.tests.factories import order_row
from tally.payments.models import Payment
from tally.platform.testing.status import StatusSample

_sequences = itertools.count(1)


def _fields_for(target: str) -> dict[str, Any]:
    if target == InvoiceStatus.RENDERED:
        return {"file": "invoices/sample.pdf", "rendered_at": timezone.now()}
    return {}


def _invoice_in(state: str) -> Invoice:
    order = order_row(status="confirmed")
    payment = Payment.objects.create(
        order=order,
        method="wallet",
        gateway="wallet",
        status="captured",
        amount=order.total,
        currency=order.currency,
    )
    sequence = next(_sequences)
    return Invoice.objects.create(
        order=order,
        payment=payment,
        number=f"INV-1999-{sequence:06d}",
        year=1999,
        sequence=sequence,
        status=state,
        currency=order.currency,
        subtotal=order.subtotal,
        shipping=order.shipping,
        tax=order.tax,
        total=order.total,
        **_fields_for(state),
    )


STATUS_SAMPLES: dict[type[Model], StatusSample] = {
    Invoice: StatusSample(row_in=_invoice_in, fields_for=_fields_for)
}
