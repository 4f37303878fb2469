"""Ledger jobs: the beat jobs (each batch in its own short transaction, safe to repeat) and
the admin console's verification run (declared in verification_runs, imported here so
workers register it)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, connection
from psycopg.errors import LockNotAvailable

from tally.ledger import services
from tally.ledger.models import Account
from tally.ledger.verification_runs import verification_run
from tally.platform.db import use_case_transaction

logger = logging.getLogger(__name__)

__all__ = ["ledger_expire_overdue", "ledger_roll_up", "verification_run"]

EXPIRE_BATCH_SIZE = 100
EXPIRE_MAX_BATCHES = 50


@shared_task(name="tally.ledger.tasks.ledger_expire_overdue", ignore_result=True)
def ledger_expire_overdue() -> int:
    """Beat job: expire overdue pending transfers, releasing their reservations.

    One transaction per batch of EXPIRE_BATCH_SIZE; a pending transfer resolved
    concurrently is skipped, so overlapping runs are harmless. Returns how many expired.
    """
    total = 0
    for _ in range(EXPIRE_MAX_BATCHES):
        with use_case_transaction():
            expired = services.transfer_expire_overdue(limit=EXPIRE_BATCH_SIZE)
        total += len(expired)
        if len(expired) < EXPIRE_BATCH_SIZE:
            break
    return total


@shared_task(name="tally.ledger.tasks.ledger_roll_up", ignore_result=True)
def ledger_roll_up() -> int:
    """Beat job: fold new entries of every system account into its snapshot.

    One short transaction per account. The exclusive lock briefly holds back transfers to
    that account, so its wait is bounded by LEDGER_ROLL_UP_LOCK_TIMEOUT_MS; an account
    that is too busy is skipped until the next run (its derived balance stays exact, the
    read just sums a few more entries). Returns how many entries were folded.
    """
    timeout_ms = int(settings.LEDGER_ROLL_UP_LOCK_TIMEOUT_MS)
    folded = 0
    for account in Account.objects.filter(owner__isnull=True).order_by("id"):
        try:
            with use_case_transaction():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('lock_timeout', %s, true)", [f"{timeout_ms}ms"]
                    )
                folded += services.account_roll_up(account=account)
        except OperationalError as exc:
            if not isinstance(exc.__cause__, LockNotAvailable):
                raise
            logger.warning(
                "ledger roll-up skipped a busy account", extra={"account_id": account.id}
            )
    return folded
