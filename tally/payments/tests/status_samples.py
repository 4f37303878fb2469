"""Payments in every state of the payment machine (see tally/platform/testing/status.py)."""

from __future__ import annotations

from django.db.models import Model

from tally.orders.tests.factories import order_row
from tally.payments.models import Payment, Refund, RefundDestination
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


def _refund_in(state: str) -> Refund:
    payment = _payment_in("captured")
    return Refund.objects.create(
        payment=payment,
        order=payment.order,
        amount=payment.amount,
        destination=RefundDestination.ORIGINAL,
        status=state,
    )


STATUS_SAMPLES: dict[type[Model], StatusSample] = {
    Payment: StatusSample(row_in=_payment_in),
    Refund: StatusSample(row_in=_refund_in),
}
