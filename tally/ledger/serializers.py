"""The ledger's read side for every feature's endpoints: the balance and statement shapes.

A feature's view decides WHOSE account the caller may read (its own guarded selector, e.g.
``vendor_get_for_actor``) and the ledger selector gives the rows (``owner_balance``,
``owner_entries``, ``kind_entries``); the shapes are the ledger's, the same everywhere.

Statement pages are read from the read replica when one is configured
(``DATABASE_REPLICA_URL``): they may lag the primary by its replay delay, while balances
are always read from the primary (docs/scaling.md#3-read-replicas-for-statements-and-lists-built).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tally.ledger.models import Entry
from tally.ledger.selectors import AccountBalance
from tally.platform.api.pagination import paginate
from tally.platform.db import read_replica
from tally.platform.money import from_minor


class BalanceOutputSerializer(serializers.Serializer):
    balance = serializers.CharField()
    pending = serializers.CharField()
    available = serializers.CharField()
    currency = serializers.CharField()


def balance_body(balance: AccountBalance) -> dict[str, Any]:
    """``{"balance","pending","available","currency"}`` as decimal strings."""
    return {
        "balance": from_minor(balance.balance),
        "pending": from_minor(balance.pending),
        "available": from_minor(balance.available),
        "currency": balance.currency,
    }


class EntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Entry sequence number (increases over time).")
    transfer_id = serializers.UUIDField()
    code = serializers.CharField(source="transfer.code")
    amount = serializers.SerializerMethodField(help_text="Signed: negative is a debit.")
    balance_after = serializers.SerializerMethodField()
    reference = serializers.CharField(source="transfer.reference")
    created_at = serializers.DateTimeField()

    def get_amount(self, entry: Entry) -> str:
        return from_minor(entry.amount)

    def get_balance_after(self, entry: Entry) -> str | None:
        return None if entry.balance_after is None else from_minor(entry.balance_after)


def statement_response(
    *,
    request: Request,
    view: APIView,
    entries: QuerySet[Entry],
    serializer_class: type[serializers.BaseSerializer] = EntryOutputSerializer,
) -> Response:
    """One keyset page of a statement, newest first, in the standard list envelope.

    Read from the replica when one is configured (``read_replica()``): a statement tolerates
    the replica's replay delay, and keyset pages stay consistent on a replica a moment
    behind. The caller's access check has already run on the primary."""
    return paginate(
        request=request,
        view=view,
        queryset=entries.using(read_replica()),
        serializer_class=serializer_class,
        ordering="-id",
    )
