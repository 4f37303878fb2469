"""The periodic ledger verification: beat runs ``verify_ledger``'s checks every
``LEDGER_VERIFY_INTERVAL_SECONDS`` and leaves the verdict where every web replica's
``/metrics`` reads it at scrape time (``metrics.LedgerVerificationCollector``). A run asked
for from the admin console (``verification_runs``) leaves its verdict there too, so
re-running the checks after a repair clears the alert at once.

The verdict is a small JSON document in Redis (when it ran, how many rows broke a rule,
which checks failed), not a gauge in the worker's process: with one ``/metrics`` per process
group, a gauge set in a worker would be seen only on the worker's own endpoint, and by
whichever worker ran the job last. Losing Redis loses only the last verdict; the next run
writes it again (alert on its age, ``tally_ledger_verify_last_run_timestamp_seconds``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from tally.ledger.verification import VerificationReport, ledger_verify

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerificationVerdict:
    checked_at: datetime
    # Rows breaking a rule, summed over the failed checks (0: balanced).
    mismatches: int
    failed_checks: list[str]
    duration_seconds: float


def _key() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'tally')}:ledger:verify:latest"


def verification_verdict_store(*, report: VerificationReport) -> VerificationVerdict:
    """Keep ``report``'s verdict as the newest one (Redis, no expiry). Raises RedisError."""
    verdict = VerificationVerdict(
        checked_at=report.checked_at,
        mismatches=sum(check.mismatches for check in report.failed),
        failed_checks=[check.name for check in report.failed],
        duration_seconds=report.duration_seconds,
    )
    document = {
        "checked_at": verdict.checked_at.timestamp(),
        "mismatches": verdict.mismatches,
        "failed_checks": verdict.failed_checks,
        "duration_seconds": verdict.duration_seconds,
    }
    get_redis_connection("default").set(_key(), json.dumps(document))
    return verdict


def verification_verdict_store_quietly(*, report: VerificationReport) -> None:
    """``verification_verdict_store`` for a run asked for by someone (the admin console's
    button): a Redis fault is logged, never raised, so the run still records its report."""
    try:
        verification_verdict_store(report=report)
    except RedisError:
        logger.warning("ledger verification verdict not stored for /metrics", exc_info=True)


def verification_verdict_latest() -> VerificationVerdict | None:
    """The newest stored verdict, None before the first run. Raises RedisError."""
    raw = get_redis_connection("default").get(_key())
    if raw is None:
        return None
    document = json.loads(raw)
    return VerificationVerdict(
        checked_at=datetime.fromtimestamp(float(document["checked_at"]), tz=UTC),
        mismatches=int(document["mismatches"]),
        failed_checks=list(document["failed_checks"]),
        duration_seconds=float(document["duration_seconds"]),
    )


@shared_task(name="tally.ledger.verification_periodic.ledger_verify_periodic", ignore_result=True)
def ledger_verify_periodic() -> int:
    """Beat job: run every verification check (one read-only REPEATABLE READ snapshot, as
    ``manage.py verify_ledger``), store the verdict for ``/metrics``, and log an ERROR
    naming the failed checks when any rule is broken. Writes nothing to the database; safe
    to run twice. Returns how many rows broke a rule."""
    report = ledger_verify()
    verdict = verification_verdict_store(report=report)
    if verdict.mismatches:
        logger.error(
            "ledger verification found mismatches",
            extra={"mismatches": verdict.mismatches, "failed_checks": verdict.failed_checks},
        )
    return verdict.mismatches
