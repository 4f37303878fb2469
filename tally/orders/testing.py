"""Test helpers for every app that places or reads orders: orders placed and paid through
the orders services (stock reserved, audit rows written, emails queued, as the API would),
and the checkout body the API takes. Imported by tests, the bench and demo data only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tally.catalog.models import Variant
from tally.identity.models import CustomerProfile, VendorProfile
from tally.orders.models import Order
from tally.orders.serializers import order_item_display_key
from tally.orders.services import (
    OrderDraft,
    OrderLineDraft,
    PlacedOrder,
    order_payment_succeed,
    order_place,
)
from tally.platform.db import use_case_transaction
from tally.platform.money import from_minor

SHIPPING_ADDRESS = {
    "line1": "221B Baker Street",
    "line2": "",
    "city": "London",
    "region": "",
    "postal_code": "NW1 6XE",
    "country": "GB",
}
GUEST_EMAIL = "guest@example.com"
GUEST_NAME = "Grace Guest"


def order_place_for_test(
    *,
    lines: Sequence[tuple[Variant, int]],
    customer: CustomerProfile | None = None,
    email: str = GUEST_EMAIL,
    name: str = GUEST_NAME,
    currency: str | None = None,
) -> PlacedOrder:
    """Place an order of ``lines`` ((variant, quantity) pairs): ``customer``'s, or a guest's
    (``email``, ``name``; the result carries its access token) when None."""
    draft = OrderDraft(
        lines=[
            OrderLineDraft(variant_id=variant.pk, quantity=quantity) for variant, quantity in lines
        ],
        shipping_address=SHIPPING_ADDRESS,
        currency=currency,
        email="" if customer is not None else email,
        name="" if customer is not None else name,
    )
    return order_place(actor=customer.user if customer is not None else None, draft=draft)


def order_confirm_for_test(order: Order) -> Order:
    """Mark ``order`` paid (pending → confirmed) as a successful payment does, in a
    transaction of its own."""
    with use_case_transaction():
        order_payment_succeed(order=order, actor=None)
    order.refresh_from_db()
    return order


def order_place_body(lines: Sequence[tuple[Variant, int]], **fields: Any) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/orders/`` for ``lines``: a guest's unless ``fields``
    say else (``email=None`` leaves a key out)."""
    body: dict[str, Any] = {
        "items": [
            {"variant_id": str(variant.pk), "quantity": quantity} for variant, quantity in lines
        ],
        "shipping_address": dict(SHIPPING_ADDRESS),
        "email": GUEST_EMAIL,
        "name": GUEST_NAME,
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def order_expected_body(order: Order, *, vendor: VendorProfile | None = None) -> dict[str, Any]:
    """The API's body of ``order`` as it is in the database now: as its buyer or an admin
    sees it, or as ``vendor`` does (its own lines, order totals null)."""
    order.refresh_from_db()
    items = order.items.all()
    if vendor is not None:
        items = items.filter(vendor=vendor)
    lines = sorted(items, key=order_item_display_key)
    return {
        "id": str(order.pk),
        "number": order.number,
        "status": order.status,
        "customer_id": None if order.customer_id is None else str(order.customer_id),
        "email": order.email,
        "name": order.name,
        "phone": order.phone,
        "shipping_address": order.shipping_address,
        "currency": order.currency,
        "subtotal": None if vendor else from_minor(order.subtotal),
        "shipping": None if vendor else from_minor(order.shipping),
        "tax": None if vendor else from_minor(order.tax),
        "total": None if vendor else from_minor(order.total),
        "vendor_subtotal": from_minor(sum(item.line_total for item in lines)) if vendor else None,
        "version": order.version,
        "payment_due_at": _iso(order.payment_due_at),
        "status_reason": order.status_reason,
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "items": [
            {
                "id": str(item.pk),
                "variant_id": str(item.variant_id),
                "vendor_id": str(item.vendor_id),
                "service_title": item.service_title,
                "variant_name": item.variant_name,
                "sku": item.sku,
                "unit_price": from_minor(item.unit_price),
                "quantity": item.quantity,
                "line_total": from_minor(item.line_total),
            }
            for item in lines
        ],
    }
