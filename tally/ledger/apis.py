"""Ledger HTTP interface: the reconciliation report for admins.

The read side that features reuse for balances and statements is in ``serializers.py``.
"""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tally.identity.permissions import IsAdmin
from tally.ledger.verification import ledger_verify


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
