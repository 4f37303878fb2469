"""The outbox's backlog as Prometheus gauges, read at scrape time with one indexed query.

``tally_outbox_backlog``: messages not processed yet; ``tally_outbox_oldest_age_seconds``:
the age of the oldest of them (0 with none). Both come from the partial index on
``created_at WHERE processed_at IS NULL`` (``outbox_unprocessed_idx``), whose size is the
backlog itself, so a healthy outbox costs next to nothing to read. Every web replica serves
the same numbers (they are the database's), so alert on ``max``, not ``sum``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError, connection
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tally.platform.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

_BACKLOG_SQL = (
    f"SELECT count(*), min(created_at) FROM {OutboxMessage._meta.db_table}"  # noqa: S608  # nosec B608  # the table name comes from the model
    " WHERE processed_at IS NULL"
)


class OutboxCollector(Collector):
    """The two outbox gauges; nothing while the database cannot be read."""

    def collect(self) -> Iterator[Metric]:
        try:
            with connection.cursor() as cursor:
                cursor.execute(_BACKLOG_SQL)
                row = cursor.fetchone()
        except DatabaseError:
            logger.warning("outbox backlog unreadable", exc_info=True)
            return
        count, oldest = row if row is not None else (0, None)
        backlog = GaugeMetricFamily(
            "tally_outbox_backlog", "Outbox messages not processed yet (jobs waiting or failing)."
        )
        backlog.add_metric([], int(count))
        yield backlog
        age = GaugeMetricFamily(
            "tally_outbox_oldest_age_seconds",
            "Age of the oldest outbox message not processed yet (0 with none).",
        )
        age.add_metric(
            [], max(0.0, (timezone.now() - oldest).total_seconds()) if oldest is not None else 0.0
        )
        yield age
