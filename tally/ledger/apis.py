"""Ledger HTTP interface: the reconciliation report for admins, and the read side every
feature reuses for balances and statements (the serializers and ``statement_response``).

A feature's endpoint decides WHOSE account a caller may read (its own guarded selector);
the shapes of a balance and of a statement entry are the ledger's, the same everywhere.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tally.identity.permissions import IsAdmin
from tally.ledger.models import Entry
from tally.ledger.selectors import AccountBalance
from tally.ledger.verification import ledger_verify
from tally.platform.api.pagination import paginate
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
    """One keyset page of a statement, newest first, in the standard list envelope."""
    return paginate(
        request=request,
        view=view,
        queryset=entries,
        serializer_class=serializer_class,
        ordering="-id",
    )


class VerificationCheckOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    ok = serializers.BooleanField()
    mismatches = serializers.IntegerField()
    sample = serializers.ListField(
        child=serializers.DictField(), help_text="Up to 10 offending rows, as found."
    )
    duration_seconds = serializers.FloatField()


class LedgerVerifyApi(APIView):
    """Re-check every money rule now; 200 with ``"ok": false`` and the mismatches if any."""

    permission_classes = (IsAdmin,)

    class OutputSerializer(serializers.Serializer):
        ok = serializers.BooleanField()
        checked_at = serializers.DateTimeField()
        duration_seconds = serializers.FloatField()
        counts = serializers.DictField(child=serializers.IntegerField())
        checks = VerificationCheckOutputSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer}, tags=["ledger"])
    def get(self, request: Request) -> Response:
        report = ledger_verify()
        return Response(self.OutputSerializer(asdict(report)).data)
