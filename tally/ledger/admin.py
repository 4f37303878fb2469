"""Read-only ledger pages. Money moves only through the services, never through the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tally.ledger.models import Account, Entry, Transfer


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and detail pages only: no add, change or delete, not even for superusers."""

    # Exact counts of large tables are slow; the pages do not need them.
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
