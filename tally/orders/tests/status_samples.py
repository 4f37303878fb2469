"""Orders in every state of the order machine (see tally/platform/testing/status.py)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from tally.orders.models import Order, OrderStatus
from tally.orders.tests.factories import order_row
from tally.platform.testing.status import StatusSample

_RELEASED = (OrderStatus.CANCELLED, OrderStatus.FAILED)


def _order_in(state: str) -> Order:
    return order_row(status=state, stock_released=state in _RELEASED)


def _order_fields(target: str) -> dict[str, Any]:
    return {"stock_released_at": timezone.now()} if target in _RELEASED else {}


STATUS_SAMPLES = {Order: StatusSample(row_in=_order_in, fields_for=_order_fields)}
