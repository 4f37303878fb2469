from __future__ import annotations

from celery import shared_task

from tally.platform.outbox import callout, services


@shared_task(name="tally.platform.outbox.tasks.outbox_sweep", ignore_result=True)
def outbox_sweep() -> int:
    """Beat job: re-publish outbox messages that were missed or lost."""
    return services.outbox_sweep()


@shared_task(name="tally.platform.outbox.tasks.outbox_callout_reconcile", ignore_result=True)
def outbox_callout_reconcile() -> int:
    """Beat job: republish call-out jobs claimed but never settled once their claim lapsed."""
    return callout.outbox_callout_reconcile()
