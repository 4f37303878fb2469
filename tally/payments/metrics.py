"""Prometheus metrics of payments (served at /metrics); counters move after commit."""

from __future__ import annotations

from django.db import transaction
from prometheus_client import Counter, Histogram

PAYMENTS = Counter(
    "tally_payments_total",
    "Payments reaching an outcome, by method and outcome (captured, declined, rejected).",
    ["method", "outcome"],
)
GATEWAY_SECONDS = Histogram(
    "tally_payment_gateway_seconds",
    "Time of one call to a payment gateway, by gateway, operation and outcome.",
    ["gateway", "operation", "outcome"],
)

REFUNDS = Counter(
    "tally_refunds_total",
    "Refunds reaching an outcome (succeeded, failed), by destination.",
    ["destination", "outcome"],
)
REFUNDED_MINOR = Counter(
    "tally_refunded_minor_total",
    "Minor units given back by succeeded refunds, by currency and destination.",
    ["currency", "destination"],
)


def payment_count_on_commit(*, method: str, outcome: str) -> None:
    transaction.on_commit(lambda: PAYMENTS.labels(method=method, outcome=outcome).inc())
