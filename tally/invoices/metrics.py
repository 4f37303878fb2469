"""Prometheus metrics of invoices (served at /metrics); counters move after commit."""

from __future__ import annotations

from django.db import transaction
from prometheus_client import Counter, Histogram

INVOICE_JOBS = Counter(
    "tally_invoice_jobs_total",
    "Invoice PDF jobs reaching an outcome: rendered (stored and emailed) or failed (every "
    "attempt failed).",
    ["outcome"],
)
INVOICE_RENDER_SECONDS = Histogram(
    "tally_invoice_render_seconds",
    "Time to render one invoice PDF and write it to storage.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def invoice_job_count_on_commit(*, outcome: str) -> None:
    transaction.on_commit(lambda: INVOICE_JOBS.labels(outcome=outcome).inc())
