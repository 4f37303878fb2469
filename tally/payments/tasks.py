"""Payments jobs: the call-out jobs (the gateway call, the SSLCommerz validation, a refund
through the gateway, an admin's revalidation of one payment — declared beside their use
cases, imported here so workers register them) and the beat job reconciling payments left
in flight."""

from __future__ import annotations

from celery import shared_task

from tally.payments import services
from tally.payments.refunds import refund_send
from tally.payments.revalidation import payment_revalidate
from tally.payments.services import payment_initiate
from tally.payments.sslcommerz_jobs import sslcommerz_validate

__all__ = [
    "payment_initiate",
    "payment_reconcile",
    "payment_revalidate",
    "refund_send",
    "sslcommerz_validate",
]


@shared_task(name="tally.payments.tasks.payment_reconcile", ignore_result=True)
def payment_reconcile() -> int:
    """Beat job: settle payments left in flight with what their gateway says."""
    return services.payment_reconcile()
