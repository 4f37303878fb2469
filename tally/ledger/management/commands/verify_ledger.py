"""``manage.py verify_ledger``: re-check every money rule; exit 1 on any mismatch."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tally.ledger.verification import (
    CheckResult,
    VerificationReport,
    ledger_verify,
    verification_checks,
)


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
            "--no-progress", action="store_true", help="never show the progress bar"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interactive = sys.stdout.isatty() and not options["no_progress"]
        with tqdm(
            total=len(verification_checks()),
            desc="verifying ledger",
            unit="check",
            disable=not interactive,
        ) as bar:

            def advance(result: CheckResult) -> None:
                bar.set_postfix_str(result.name)
                bar.update(1)

            report = ledger_verify(on_check=advance)
        self.stdout.write(report_render_text(report))
        if not report.ok:
            raise CommandError(
                f"ledger verification failed: {', '.join(c.name for c in report.failed)}"
            )
