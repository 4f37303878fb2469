"""Read-only ledger pages. Money moves only through the services, never through the admin."""

from __future__ import annotations

from django.contrib import admin

from tally.ledger.models import Account, Entry, Transfer
from tally.platform.admin import ReadOnlyAdmin


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "currency", "owner", "balance", "pending_debits", "floored")
    list_filter = ("kind", "currency", "floored")
    search_fields = ("owner__email", "kind", "=id")
    list_select_related = ("owner",)
    ordering = ("-id",)


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


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "account", "amount", "balance_after", "transfer")
    list_filter = ("account__kind",)
    search_fields = ("account__owner__email", "account__kind", "transfer__reference")
    list_select_related = ("account", "transfer")
    ordering = ("-id",)
    raw_id_fields = ("account", "transfer")
