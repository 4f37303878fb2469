"""Read-only ledger pages. Money moves only through the services, never through the admin.

The pages link to each other so an operator can follow money by clicking: an account's page
lists its newest entries with their transfers; a transfer's page links both accounts and
lists its entries; the entry list links each entry's account and transfer. Lists accept
``?owner=`` (accounts), ``?account=`` (entries) and ``?debit_account=`` / ``?credit_account=``
(transfers), which other apps' pages use to link here.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from tally.ledger.models import Account, Entry, Transfer
from tally.platform.admin import ReadOnlyAdmin

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
