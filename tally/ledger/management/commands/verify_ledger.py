"""``manage.py verify_ledger``: re-check every money rule; exit 1 on any mismatch."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tally.ledger.verification import (
    CheckResult,
    VerificationReport,
    ledger_verify,
    verification_checks,
)
from tally.platform.progress import progress_run

# A check can take minutes on a large ledger: off a terminal, a line at most this often.
PROGRESS_INTERVAL_SECONDS = 5.0


def report_render_text(report: VerificationReport) -> str:
    """The report as plain text: one line per check, then a sample of each mismatch."""
    counts = ", ".join(f"{count} {name}" for name, count in report.counts.items())
    lines = [f"Ledger verification at {report.checked_at.isoformat()}: {counts}"]
    for check in report.checks:
        status = "ok  " if check.ok else "FAIL"
        mismatches = "" if check.ok else f" - {check.mismatches} mismatch(es)"
        lines.append(
            f"  [{status}] {check.name}: {check.description}"
            f" ({check.duration_seconds:.2f}s){mismatches}"
        )
        for row in check.sample:
            lines.append(f"           {json.dumps(row, sort_keys=True, default=str)}")
        if check.mismatches > len(check.sample):
            lines.append(f"           ... and {check.mismatches - len(check.sample)} more")
    verdict = "OK" if report.ok else f"FAILED ({len(report.failed)} check(s))"
    lines.append(f"Result: {verdict} in {report.duration_seconds:.2f}s")
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Verify the ledger: balances equal entries, pending debits equal open pending "
        "transfers, everything sums to zero, floors hold, every transfer has its entries. "
        "Exits 1 on any mismatch."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-progress", action="store_true", help="show no progress (bar or lines)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # On stderr: a bar on a terminal, plain lines otherwise; the report stays on stdout.
        with progress_run(
            total=len(verification_checks()),
            description="verifying ledger",
            unit="check",
            stream=self.stderr,
            enabled=not options["no_progress"],
            interval_seconds=PROGRESS_INTERVAL_SECONDS,
        ) as progress:

            def advance(result: CheckResult) -> None:
                progress.advance(note=result.name)

            report = ledger_verify(on_check=advance)
        self.stdout.write(report_render_text(report))
        if not report.ok:
            raise CommandError(
                f"ledger verification failed: {', '.join(c.name for c in report.failed)}"
            )
