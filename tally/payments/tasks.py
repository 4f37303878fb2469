"""Payments jobs: the gateway call-out job (declared in services, imported here so workers
register it) and the beat job reconciling payments left in flight."""

from __future__ import annotations

from celery import shared_task

from tally.payments import services
from tally.payments.services import payment_initiate

__all__ = ["payment_initiate", "payment_reconcile"]


@shared_task(name="tally.payments.tasks.payment_reconcile", ignore_result=True)
def payment_reconcile() -> int:
    """Beat job: settle payments left in flight with what their gateway says."""
    return services.payment_reconcile()
