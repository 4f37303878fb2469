"""Row locks of the offers app: the only place offers writes ``select_for_update``.

Each helper locks only its own table's rows (``of=("self",)``), so a customer's profile and
user rows (which every wallet transfer's foreign-key check touches) are never locked here.
An activation's settle step locks the activation, then its subscription, then the wallet
(through the ledger): always in that order.
"""

from __future__ import annotations

from uuid import UUID

from tally.offers.models import Activation, Subscription


def activation_lock(*, activation_id: UUID | str) -> Activation:
    """Lock one activation row (its customer, offer, subscription and partner loaded, not
    locked)."""
    return (
        Activation.objects.select_for_update(of=("self",))
        .select_related("customer__user", "offer", "subscription", "partner", "pending_transfer")
        .get(pk=activation_id)
    )


def subscription_lock(*, subscription_id: UUID | str) -> Subscription:
    """Lock one subscription row (customer and offer loaded, not locked)."""
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer__user", "offer")
        .get(pk=subscription_id)
    )


def subscription_lock_unless_busy(*, subscription_id: UUID | str) -> Subscription | None:
    """Lock one subscription row, or None if another transaction holds it (a beat job's
    overlapping run skips it instead of waiting)."""
    return (
        Subscription.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("customer__user", "offer")
        .filter(pk=subscription_id)
        .first()
    )
