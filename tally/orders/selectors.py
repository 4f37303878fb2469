"""Reading orders: one guarded selector per object and caller, and the lists each role sees.

Who sees an order:
- an admin: every order, every line;
- a customer: its own orders (``order.customer``), every line;
- a guest (no account): the one order whose access token it presents (``?token=`` or the
  ``Order-Token`` header); the token works for a signed-in caller too;
- a vendor: the orders holding at least one of its lines, and only its own lines.

Anyone else gets 404 ``not_found`` (never 403: order ids do not leak).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from tally.identity.models import User, VendorProfile
from tally.orders.models import Order, OrderItem
from tally.platform.exceptions import NotFoundError, PermissionDeniedError

Relation = Literal["admin", "customer", "guest", "vendor"]
# An order's lines, as every view shows them.
ITEM_ORDERING = ("service_title", "sku", "id")


@dataclass(frozen=True)
class OrderAccess:
    """An order as one caller may see it, and why: ``relation`` decides what it may do
    (the services check it) and ``items`` are the lines it may see."""

    order: Order
    relation: Relation
    items: list[OrderItem]
    vendor: VendorProfile | None = None


def order_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_matches(order: Order, token: str | None) -> bool:
    if not token or not order.access_token_hash or len(token) > 200:
        return False
    return hmac.compare_digest(order.access_token_hash, order_token_hash(token))


def _vendor_of(actor: User) -> VendorProfile | None:
    try:
        return actor.vendor_profile
    except VendorProfile.DoesNotExist:
        return None


def order_get_for_actor(
    *, actor: User | None, order_id: UUID | str, access_token: str | None = None
) -> OrderAccess:
    """The order ``order_id`` as ``actor`` (None: anonymous) sees it, or 404."""
    order = Order.objects.select_related("customer__user").filter(pk=order_id).first()
    if order is None:
        raise NotFoundError("No such order.")
    items = list(order.items.order_by(*ITEM_ORDERING))
    if actor is not None and actor.is_authenticated:
        if actor.is_admin:
            return OrderAccess(order=order, relation="admin", items=items)
        if actor.is_customer and order.customer is not None and order.customer.user_id == actor.pk:
            return OrderAccess(order=order, relation="customer", items=items)
    if _token_matches(order, access_token):
        return OrderAccess(order=order, relation="guest", items=items)
    if actor is not None and actor.is_authenticated and actor.is_vendor:
        vendor = _vendor_of(actor)
        own = [item for item in items if vendor is not None and item.vendor_id == vendor.pk]
        if own:
            return OrderAccess(order=order, relation="vendor", items=own, vendor=vendor)
    raise NotFoundError("No such order.")


def order_list_for_actor(
    *,
    actor: User,
    status: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> QuerySet[Order]:
    """The orders ``actor`` may list, newest first, each with ``visible_items`` prefetched
    (a vendor's own lines only). Customers their own, vendors those holding their lines,
    admins all; anyone else is refused (403)."""
    orders = Order.objects.select_related("customer__user")
    items = OrderItem.objects.order_by(*ITEM_ORDERING)
    if actor.is_admin:
        pass
    elif actor.is_customer:
        orders = orders.filter(customer__user=actor)
    elif actor.is_vendor:
        vendor = _vendor_of(actor)
        if vendor is None:
            return orders.none()
        orders = orders.filter(
            Exists(OrderItem.objects.filter(order=OuterRef("pk"), vendor=vendor))
        )
        items = items.filter(vendor=vendor)
    else:
        raise PermissionDeniedError("Only customers, vendors and admins list orders.")
    if status is not None:
        orders = orders.filter(status=status)
    if created_from is not None:
        orders = orders.filter(created_at__gte=created_from)
    if created_to is not None:
        orders = orders.filter(created_at__lt=created_to)
    return orders.prefetch_related(Prefetch("items", queryset=items, to_attr="visible_items"))
