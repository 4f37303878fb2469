"""Row locks of the payments app: the only place payments writes ``select_for_update``.

A settle step locks the payment, then (through ``status_transition``) its order, then the
ledger accounts: always in that order.
"""

from __future__ import annotations

from uuid import UUID

from tally.payments.models import Payment


def payment_lock(*, payment_id: UUID | str) -> Payment:
    """Lock one payment row (its order and buyer loaded, not locked)."""
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("order__customer__user")
        .get(pk=payment_id)
    )
