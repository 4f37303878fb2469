"""Offers jobs: the provisioning call-out job (declared in services, imported here so
workers register it) and the beat jobs for expiry / auto-renewal and expiry reminders."""

from __future__ import annotations

from celery import shared_task

from tally.offers import services
from tally.offers.services import activation_provision

__all__ = ["activation_provision", "subscription_expire_due", "subscription_remind_expiring"]


@shared_task(name="tally.offers.tasks.subscription_expire_due", ignore_result=True)
def subscription_expire_due() -> dict[str, int]:
    """Beat job: auto-renew or expire every subscription past its expiry (safe to repeat)."""
    run = services.subscription_expire_due()
    return {"renewed": run.renewed, "expired": run.expired}


@shared_task(name="tally.offers.tasks.subscription_remind_expiring", ignore_result=True)
def subscription_remind_expiring() -> int:
    """Beat job: remind customers of subscriptions expiring soon, once per period."""
    return services.subscription_remind_expiring()
