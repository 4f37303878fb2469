"""Reading payments: a payment is seen by whoever may see its order as a buyer (the
customer, the guest with the order's token) and by admins; anyone else gets 404."""

from __future__ import annotations

from uuid import UUID

from tally.identity.models import User
from tally.orders.selectors import order_get_for_actor
from tally.payments.models import Payment
from tally.platform.exceptions import NotFoundError


def payment_get_for_actor(
    *, actor: User | None, payment_id: UUID | str, access_token: str | None = None
) -> Payment:
    """The payment ``payment_id`` if ``actor`` (or the token's holder) paid for its order or
    is an admin; else 404."""
    payment = Payment.objects.select_related("order").filter(pk=payment_id).first()
    if payment is None:
        raise NotFoundError("No such payment.")
    try:
        access = order_get_for_actor(
            actor=actor, order_id=payment.order_id, access_token=access_token
        )
    except NotFoundError:
        raise NotFoundError("No such payment.") from None
    if access.relation not in ("admin", "customer", "guest"):
        raise NotFoundError("No such payment.")
    payment.order = access.order
    return payment
