"""Prometheus metrics of payments (served at /metrics); counters move after commit."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

PAYMENTS = Counter(
    "tally_payments_total",
    "Payments reaching an outcome, by method and outcome (captured, declined, rejected).",
    ["method", "outcome"],
)
# From the payment's creation (the customer asked to pay) to its outcome.
PAYMENT_SECONDS = Histogram(
    "tally_payment_seconds",
    "Payment latency, created to outcome, by method and outcome.",
    ["method", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400),
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


def payment_count_on_commit(
    *, method: str, outcome: str, created_at: datetime | None = None
) -> None:
    """After commit: count the outcome and observe its latency since ``created_at`` (the
    payment's creation; every settle passes it)."""

    def count() -> None:
        PAYMENTS.labels(method=method, outcome=outcome).inc()
        if created_at is not None:
            seconds = (timezone.now() - created_at).total_seconds()
            PAYMENT_SECONDS.labels(method=method, outcome=outcome).observe(max(0.0, seconds))

    transaction.on_commit(count)
