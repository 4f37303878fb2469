"""Prometheus metrics of orders (served at /metrics).

Counters move only after the transaction that made the change committed
(``transaction.on_commit``), so a rolled-back order is never counted.
"""

from __future__ import annotations

from django.db import transaction
from prometheus_client import Counter

ORDER_TRANSITIONS = Counter(
    "tally_orders_total",
    "Orders entering each status (pending: placed).",
    ["status"],
)


def order_status_count_on_commit(status: str) -> None:
    transaction.on_commit(lambda: ORDER_TRANSITIONS.labels(status=status).inc())
