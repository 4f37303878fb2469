"""The demo marketplace loads once however often it runs; the expiry job runs on a real
Celery worker."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from tally.catalog.models import Service, Variant
from tally.identity.tests.factories import CustomerFactory
from tally.orders.models import Order, OrderStatus
from tally.orders.services import OrderDraft, OrderLineDraft, order_place
from tally.orders.tasks import order_expire_unpaid
from tally.orders.tests.factories import variant_row
from tally.platform.testing.race import wait_until


@pytest.mark.django_db
@override_settings(TALLY_DEMO_DATA=True)
def test_the_demo_marketplace_loads_once() -> None:
    for _ in range(2):
        call_command("demo_data", stdout=io.StringIO())

    assert Service.objects.filter(is_active=True).count() == 4
    assert Variant.objects.filter(stock=0).exists()
    assert Variant.objects.filter(stock__isnull=True).exists()
    statuses = Counter(Order.objects.values_list("status", flat=True))
    assert statuses == {
        OrderStatus.PENDING: 2,
        OrderStatus.CANCELLED: 1,
        OrderStatus.CONFIRMED: 1,
        OrderStatus.COMPLETED: 1,
    }
    assert Order.objects.filter(customer__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_expiry_job_releases_an_unpaid_orders_stock_on_a_worker(celery_worker: Any) -> None:
    variant = variant_row(stock=2)
    order = order_place(
        actor=CustomerFactory().user,
        draft=OrderDraft(
            lines=[OrderLineDraft(variant_id=variant.pk, quantity=2)],
            shipping_address={
                "line1": "1 Main St",
                "city": "X",
                "postal_code": "1",
                "country": "US",
            },
        ),
    ).order
    Order.objects.filter(pk=order.pk).update(payment_due_at=timezone.now() - timedelta(minutes=1))

    order_expire_unpaid.delay()

    wait_until(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED,
        message="the worker did not expire the unpaid order",
    )
    assert Variant.objects.get(pk=variant.pk).stock == 2
