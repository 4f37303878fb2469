"""The ledger's Prometheus metrics (served at ``/metrics``; in multi-process mode through
``PROMETHEUS_MULTIPROC_DIR``, like every other ``prometheus_client`` metric).

Transfers are counted by the posting core in the one after-commit hook it registers per
movement (``posting._movement_committed``): a rolled-back transfer counts nothing, and a
sale pays for two counter increments, no query and no Redis command. Refusals for want of
funds are counted where the refusal is decided (nothing committed, nothing to wait for).

The verification gauges are read at scrape time from the newest periodic verdict
(``LedgerVerificationCollector``, see ``verification_periodic``), so every web replica
shows what the ``ledger_verify_periodic`` job found, whichever worker ran it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Immediate and posted transfers (money that moved: entries were written), by code.
TRANSFERS = Counter(
    "tally_ledger_transfers_total",
    "Ledger transfers that moved money (immediate or posted), by code, after commit.",
    ["code"],
)
TRANSFER_AMOUNT_MINOR = Counter(
    "tally_ledger_transfer_amount_minor_total",
    "Minor units of TALLY_CURRENCY moved by immediate and posted transfers, by code.",
    ["code"],
)
# A debit the floored account's available balance does not cover, by transfer code.
INSUFFICIENT_FUNDS = Counter(
    "tally_insufficient_funds_total",
    "Transfers refused because the floored account's available balance did not cover them.",
    ["code"],
)


# Each code's two labelled counters, looked up once (codes are a small registered set): on
# the sale path this leaves two increments, about 6 µs in multi-process mode.
_TRANSFER_COUNTERS: dict[str, tuple[Counter, Counter]] = {}


def transfer_count(*, code: str, amount_minor: int) -> None:
    """Count one committed transfer that moved ``amount_minor``."""
    counters = _TRANSFER_COUNTERS.get(code)
    if counters is None:
        counters = TRANSFERS.labels(code), TRANSFER_AMOUNT_MINOR.labels(code)
        _TRANSFER_COUNTERS[code] = counters
    counters[0].inc()
    counters[1].inc(amount_minor)


def insufficient_funds_count(*, code: str) -> None:
    """Count one refusal for want of funds (call where the refusal is decided)."""
    INSUFFICIENT_FUNDS.labels(code).inc()


class LedgerVerificationCollector(Collector):
    """``tally_ledger_verify_mismatches`` and ``tally_ledger_verify_last_run_timestamp_seconds``
    from the newest periodic verification's verdict, read at scrape time (one Redis GET).
    Nothing is reported before the first run, or while Redis cannot be read."""

    def collect(self) -> Iterator[Metric]:
        from tally.ledger.verification_periodic import verification_verdict_latest

        try:
            verdict = verification_verdict_latest()
        except RedisError:
            logger.warning("ledger verification verdict unreadable", exc_info=True)
            return
        if verdict is None:
            return
        mismatches = GaugeMetricFamily(
            "tally_ledger_verify_mismatches",
            "Rows breaking a money rule in the newest periodic ledger verification (0: balanced).",
        )
        mismatches.add_metric([], verdict.mismatches)
        yield mismatches
        checked = GaugeMetricFamily(
            "tally_ledger_verify_last_run_timestamp_seconds",
            "When the newest periodic ledger verification ran (Unix time).",
        )
        checked.add_metric([], verdict.checked_at.timestamp())
        yield checked
