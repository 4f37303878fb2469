"""Verifying the ledger from the admin console: the same checks as ``manage.py
verify_ledger`` (``ledger_verify``), run by a worker and recorded.

Over ten million entries the checks take tens of seconds, longer than a web request should
hold a worker, so the admin's button only asks for a run: ``verification_run_request``
writes a ``VerificationRun`` (who, when), its audit row and an outbox job in one
transaction. The job is a call-out job (``tally.platform.outbox.callout``) because the
checks must run with no transaction open: ``ledger_verify`` then takes its own REPEATABLE
READ, READ ONLY snapshot, exactly as the command does. The report is recorded once, by the
settle step (a conditional update on ``finished_at IS NULL``), with a second audit row; a
redelivered job runs nothing twice. One run is in flight at a time (a partial unique index).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tally.identity.models import User
from tally.identity.services import actor_require_admin
from tally.ledger.models import VerificationRun
from tally.ledger.verification import ledger_verify
from tally.ledger.verification_periodic import verification_verdict_store_quietly
from tally.platform.audit.services import audit_record
from tally.platform.db import require_no_transaction, use_case
from tally.platform.exceptions import ConflictError
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue

VERIFY_TASK = "tally.ledger.verification_run"
# Well above the 10 M-entry run (about 25 s on two cores): a claim older than this is dead.
VERIFY_CLAIM_TIMEOUT_SECONDS = 1800.0
VERIFY_MAX_ATTEMPTS = 3


@use_case
def verification_run_request(*, actor: User) -> VerificationRun:
    """An admin asks for the ledger to be verified now.

    Writes the run, its audit row (``ledger_verification.requested``) and the job
    ``tally.ledger.verification_run`` in one transaction. Refuses: 403 for anyone but an
    admin; 409 ``conflict`` while another run has not finished. Locks nothing (the partial
    unique index referees two admins asking at once).
    """
    actor_require_admin(actor=actor)
    try:
        with transaction.atomic():
            run = VerificationRun.objects.create(requested_by=actor)
    except IntegrityError:
        raise ConflictError(
            "A verification is already running; its report will appear here when it ends."
        ) from None
    audit_record(
        actor=actor,
        action="ledger_verification.requested",
        target=run,
        changes={"requested_at": [None, run.requested_at.isoformat()]},
    )
    outbox_enqueue(task_name=VERIFY_TASK, payload={"run_id": run.pk})
    return run


def verification_run_call(attempt: CallOutAttempt, *, run_id: int) -> dict[str, Any]:
    """The job's work, with no transaction open: every check in one snapshot. The report as
    JSON (dates as ISO text), or ``{"final": true}`` when the run was already recorded."""
    require_no_transaction()
    if VerificationRun.objects.filter(pk=run_id, finished_at__isnull=False).exists():
        return {"final": True}
    report = ledger_verify()
    # The verdict /metrics serves (tally_ledger_verify_mismatches) is this run's too.
    verification_verdict_store_quietly(report=report)
    return dict(json.loads(json.dumps(asdict(report), default=str)))


def verification_run_settle(
    attempt: CallOutAttempt, result: dict[str, Any], *, run_id: int
) -> None:
    """Record the report once (in the job's settle transaction), audited."""
    if result.get("final"):
        return
    ok = bool(result.get("ok"))
    recorded = VerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
        finished_at=timezone.now(), ok=ok, report=result
    )
    if recorded:
        audit_record(
            actor=None,
            action="ledger_verification.finished",
            target=VerificationRun(pk=run_id),
            changes={"ok": [None, ok]},
        )


def verification_run_give_up(attempt: CallOutAttempt, error: str, *, run_id: int) -> None:
    """After the last failed attempt: the run ends without a verdict, with the error."""
    recorded = VerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).update(
        finished_at=timezone.now(), ok=None, error=error[:1000]
    )
    if recorded:
        audit_record(
            actor=None,
            action="ledger_verification.gave_up",
            target=VerificationRun(pk=run_id),
            changes={"error": [None, error[:200]]},
        )


verification_run = outbox_callout_task(
    VERIFY_TASK,
    call_out=verification_run_call,
    settle=verification_run_settle,
    give_up=verification_run_give_up,
    max_attempts=VERIFY_MAX_ATTEMPTS,
    claim_timeout_seconds=VERIFY_CLAIM_TIMEOUT_SECONDS,
)


def verification_run_latest() -> VerificationRun | None:
    """The newest run (finished or not), with who asked for it."""
    return VerificationRun.objects.select_related("requested_by").order_by("-requested_at").first()
