"""Prometheus metrics of credit requests (served at /metrics; the credit job's count is on
the worker's endpoint, or on /metrics when the worker shares ``PROMETHEUS_MULTIPROC_DIR``).

Counters move only after the transaction that made the change committed
(``transaction.on_commit``), so a rolled-back approval is never counted.
"""

from __future__ import annotations

from django.db import transaction
from prometheus_client import Counter

CREDIT_REQUEST_TRANSITIONS = Counter(
    "tally_credit_requests_total",
    "Credit requests entering each status (pending: submitted; approved: credited).",
    ["status"],
)


def credit_request_count_on_commit(*, status: str) -> None:
    transaction.on_commit(lambda: CREDIT_REQUEST_TRANSITIONS.labels(status=status).inc())
