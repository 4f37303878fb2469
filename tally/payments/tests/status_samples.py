"""Payments in every state of the payment machine (see tally/platform/testing/status.py)."""

from __future__ import annotations

from tally.orders.tests.factories import order_row
from tally.payments.models import Payment
from tally.platform.testing.status import StatusSample


def _payment_in(state: str) -> Payment:
    order = order_row()
    return Payment.objects.create(
        order=order,
        method="credit_card",
        gateway="sandbox",
        status=state,
        amount=order.total,
        currency=order.currency,
    )


STATUS_SAMPLES = {Payment: StatusSample(row_in=_payment_in)}
