"""Orders jobs: the beat job cancelling unpaid orders past their deadline."""

from __future__ import annotations

from celery import shared_task

from tally.orders import services


@shared_task(name="tally.orders.tasks.order_expire_unpaid", ignore_result=True)
def order_expire_unpaid() -> int:
    """Beat job: cancel unpaid orders past their payment deadline, releasing their stock."""
    return services.order_expire_unpaid()
