"""How an activation looks to the partner that started it: in the partner endpoints'
answers and in the body of its callback (the same shape in both)."""

from __future__ import annotations

from rest_framework import serializers

from tally.platform.money import MoneyField


class PartnerSubscriptionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class PartnerActivationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    reference = serializers.CharField(help_text="Tally's public reference (ACT-…).")
    partner_reference = serializers.CharField(help_text="The partner's own reference.")
    status = serializers.CharField(help_text="pending, processing, succeeded or failed.")
    customer = serializers.UUIDField(source="customer_id")
    offer = serializers.UUIDField(source="offer_id")
    subscription = PartnerSubscriptionSerializer()
    amount = MoneyField(help_text="The price reserved on the customer's wallet.")
    currency = serializers.CharField(source="offer.currency")
    failure_code = serializers.CharField(help_text="Why it failed; empty unless failed.")
    failure_detail = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
