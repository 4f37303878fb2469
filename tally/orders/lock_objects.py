"""Row locks of the orders app: the only place orders writes ``select_for_update``.

Status changes do not need these: ``status_transition`` locks the order row in its own
conditional update. A use case that must read an order's rows stable before deciding
(none yet) locks the order first, then its items are immutable.
"""

from __future__ import annotations

from uuid import UUID

from tally.orders.models import Order


def order_lock(*, order_id: UUID | str) -> Order:
    """Lock one order row (its customer loaded, not locked)."""
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("customer__user")
        .get(pk=order_id)
    )
