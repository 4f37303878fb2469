"""Read-only ledger pages. Money moves only through the services, never through the admin.

The pages link to each other so an operator can follow money by clicking: an account's page
lists its newest entries with their transfers; a transfer's page links both accounts and
lists its entries; the entry list links each entry's account and transfer. Lists accept
``?owner=`` (accounts), ``?account=`` (entries) and ``?debit_account=`` / ``?credit_account=``
(transfers), which other apps' pages use to link here.

**Verification runs** is the admin console's ``verify_ledger``: its **Verify the ledger
now** button asks a worker to run the same checks as the command
(``tally.ledger.verification_runs``: admins only, audited, one run at a time), and the page
shows the newest report (clean, or each failed check with its sample rows) above every run
(who asked, when, the verdict). A refusal is a message.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from tally.identity.models import User
from tally.ledger import verification_runs
from tally.ledger.models import Account, Entry, Transfer, VerificationRun
from tally.platform.admin import ReadOnlyAdmin
from tally.platform.exceptions import DomainError

# How many of an account's newest entries its page shows (the entry list has them all).
ACCOUNT_PAGE_ENTRIES = 20


def _account_link(account: Account) -> SafeString:
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:ledger_account_change", args=[account.pk]), account
    )


def _transfer_link(transfer: Transfer) -> SafeString:
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:ledger_transfer_change", args=[transfer.pk]),
        transfer.reference or str(transfer.pk),
    )


def _entries_table(entries: list[Entry]) -> SafeString | str:
    if not entries:
        return "None."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                entry.id,
                entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                _account_link(entry.account),
                entry.amount,
                "" if entry.balance_after is None else entry.balance_after,
                _transfer_link(entry.transfer),
            )
            for entry in entries
        ),
    )
    return format_html(
        "<table><thead><tr><th>entry</th><th>when</th><th>account</th>"
        "<th>amount (minor units)</th><th>balance after</th><th>transfer</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows,
    )


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "currency", "owner", "balance", "pending_debits", "floored")
    list_filter = ("kind", "currency", "floored")
    search_fields = ("owner__email", "kind", "=id")
    list_select_related = ("owner",)
    ordering = ("-id",)
    readonly_fields = ("recent_entries",)

    @admin.display(description="newest entries")
    def recent_entries(self, account: Account) -> SafeString | str:
        entries = list(
            Entry.objects.filter(account=account)
            .select_related("account", "transfer")
            .order_by("-id")[:ACCOUNT_PAGE_ENTRIES]
        )
        return format_html(
            '{}<p><a href="{}?account={}">All entries</a> · <a href="{}?debit_account={}">'
            'Transfers out</a> · <a href="{}?credit_account={}">Transfers in</a></p>',
            _entries_table(entries),
            reverse("admin:ledger_entry_changelist"),
            account.pk,
            reverse("admin:ledger_transfer_changelist"),
            account.pk,
            reverse("admin:ledger_transfer_changelist"),
            account.pk,
        )


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "kind",
        "code",
        "amount",
        "debit_account",
        "credit_account",
        "reference",
    )
    list_filter = ("kind", "code")
    search_fields = (
        "reference",
        "kind",
        "code",
        "debit_account__owner__email",
        "credit_account__owner__email",
        "=idempotency_key",
    )
    list_select_related = ("debit_account", "credit_account")
    ordering = ("-created_at",)
    raw_id_fields = ("debit_account", "credit_account", "pending")
    readonly_fields = ("transfer_entries",)

    @admin.display(description="entries")
    def transfer_entries(self, transfer: Transfer) -> SafeString | str:
        return _entries_table(
            list(transfer.entries.select_related("account", "transfer").order_by("id"))
        )


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "account_link", "amount", "balance_after", "transfer_link")
    list_filter = ("account__kind",)
    search_fields = ("account__owner__email", "account__kind", "transfer__reference")
    list_select_related = ("account", "transfer")
    ordering = ("-id",)
    raw_id_fields = ("account", "transfer")

    @admin.display(description="account", ordering="account")
    def account_link(self, entry: Entry) -> SafeString:
        return _account_link(entry.account)

    @admin.display(description="transfer", ordering="transfer")
    def transfer_link(self, entry: Entry) -> SafeString:
        return _transfer_link(entry.transfer)


def verification_report_html(run: VerificationRun) -> SafeString | str:
    """A run's report as the admin shows it: the verdict, then one row per check, with the
    sample rows of each failed check (as ``verify_ledger`` prints them)."""
    if run.finished_at is None:
        return "Running: the report appears here when the worker has finished."
    if run.ok is None:
        return format_html("Not run: {}", run.error or "the worker gave up.")
    report = run.report
    counts = ", ".join(f"{count} {name}" for name, count in dict(report.get("counts", {})).items())
    checks = list(report.get("checks", []))
    failed = [check for check in checks if not check.get("ok")]
    verdict = (
        format_html('<strong class="ledger-clean">{}</strong>: every check passed', "Clean")
        if run.ok
        else format_html(
            '<strong class="ledger-mismatch">Mismatches</strong> in {} check(s): {}',
            len(failed),
            ", ".join(str(check.get("name")) for check in failed),
        )
    )
    rows = format_html_join(
        "",
        '<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                "check-ok" if check.get("ok") else "check-failed",
                "ok" if check.get("ok") else "FAIL",
                check.get("name"),
                check.get("description"),
                check.get("mismatches", 0),
                format_html_join(
                    "",
                    "<pre>{}</pre>",
                    ((json.dumps(row, sort_keys=True, default=str),) for row in check["sample"]),
                )
                if check.get("sample")
                else "",
            )
            for check in checks
        ),
    )
    return format_html(
        '<p class="ledger-verdict">{} ({}; checked at {} in {} s).</p>'
        '<table class="ledger-report"><thead><tr><th></th><th>check</th><th>rule</th>'
        "<th>mismatches</th><th>sample</th></tr></thead><tbody>{}</tbody></table>",
        verdict,
        counts,
        report.get("checked_at", ""),
        report.get("duration_seconds", ""),
        rows,
    )


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    """Every verification run, newest first, with a button to start one."""

    list_display = ("id", "requested_at", "requested_by", "finished_at", "verdict")
    list_select_related = ("requested_by",)
    ordering = ("-requested_at",)
    change_list_template = "admin/ledger/verificationrun/change_list.html"
    fields = ("id", "requested_by", "requested_at", "finished_at", "verdict", "report_display")
    readonly_fields = ("verdict", "report_display")

    @admin.display(description="result")
    def verdict(self, run: VerificationRun) -> str:
        if run.finished_at is None:
            return "running"
        if run.ok is None:
            return "not run (gave up)"
        if run.ok:
            return "clean"
        failed = [check["name"] for check in run.report.get("checks", []) if not check.get("ok")]
        return f"mismatches: {', '.join(failed)}"

    @admin.display(description="report")
    def report_display(self, run: VerificationRun) -> SafeString | str:
        return verification_report_html(run)

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        return [
            path(
                "run/",
                self.admin_site.admin_view(self.run_view),
                name="{}_{}_run".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        latest = verification_runs.verification_run_latest()
        context = {
            **(extra_context or {}),
            "latest_run": latest,
            "latest_report": None if latest is None else verification_report_html(latest),
            "can_run": self.has_action_permission(request),
            "title": "Ledger verification runs",
        }
        return super().changelist_view(request, context)

    @method_decorator(require_POST)
    def run_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_action_permission(request):
            raise PermissionDenied
        actor = request.user
        assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
        try:
            verification_runs.verification_run_request(actor=actor)
        except DomainError as error:
            self.message_user(request, f"Not started: {error.detail}", messages.ERROR)
        else:
            self.message_user(
                request,
                "Verification started; a worker runs the checks and its report appears here.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:ledger_verificationrun_changelist"))
