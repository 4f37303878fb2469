"""Catalog and order rows for the orders' service tests (written straight to the database;
the API tests place orders through the API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from tally.catalog.models import Service, Variant
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import CustomerFactory, VendorFactory
from tally.orders.models import Order, OrderItem, OrderStatus
from tally.orders.numbering import order_number_next
from tally.orders.selectors import order_token_hash


def variant_row(
    *,
    vendor: VendorProfile | None = None,
    price: int = 1_000,
    stock: int | None = 10,
    currency: str = "USD",
    **fields: Any,
) -> Variant:
    service = Service.objects.create(
        vendor=vendor or VendorFactory(), title="Engine repair", category="car-repair"
    )
    return Variant.objects.create(
        service=service,
        name=fields.pop("name", "Basic"),
        sku=fields.pop("sku", "ENG-BASIC"),
        price=price,
        currency=currency,
        stock=stock,
        **fields,
    )


def order_row(*, status: str = OrderStatus.PENDING, stock_released: bool = False) -> Order:
    """A one-line order in ``status`` (its variant's stock is not touched)."""
    variant = variant_row()
    now = timezone.now()
    order = Order.objects.create(
        number=order_number_next(),
        customer=CustomerFactory(),
        email="buyer@example.com",
        name="Buyer",
        status=status,
        currency="USD",
        subtotal=variant.price,
        total=variant.price,
        payment_due_at=now + timedelta(minutes=30),
        stock_released_at=now if stock_released else None,
        access_token_hash=order_token_hash("unused"),
    )
    OrderItem.objects.create(
        order=order,
        variant=variant,
        vendor=variant.service.vendor,
        service_title=variant.service.title,
        variant_name=variant.name,
        sku=variant.sku,
        unit_price=variant.price,
        quantity=1,
        line_total=variant.price,
        stock_reserved=True,
    )
    return order
