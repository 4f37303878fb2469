"""Partner HTTP interface: translate requests to services and selectors, nothing more."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tally.identity.models import PartnerProfile
from tally.identity.request import request_user
from tally.partners import selectors, services
from tally.partners.permissions import IsPartner
from tally.partners.serializers import PartnerActivationSerializer
from tally.platform.api.schema import problem_responses
from tally.platform.api.views import ApiView


def _partner(request: Request) -> PartnerProfile:
    profile: PartnerProfile = request_user(request).partner_profile
    return profile


class PartnerActivationCreateApi(ApiView):
    """A partner buys an offer for a customer under its own reference (idempotent on it)."""

    permission_classes = (IsPartner,)
    rate_limit_class = "money"

    class InputSerializer(serializers.Serializer):
        # Formats are checked by the service, which answers each with its own problem code.
        customer_phone = serializers.CharField(
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            help_text="E.164, e.g. +14155550123.",
        )
        customer = serializers.UUIDField(required=False, help_text="The customer's id.")
        offer = serializers.UUIDField()
        reference = serializers.CharField(
            allow_blank=True,
            trim_whitespace=False,
            help_text="The partner's own reference: 1-64 of [A-Za-z0-9._-], unique per partner.",
        )

    @extend_schema(
        request=InputSerializer,
        responses={202: PartnerActivationSerializer, **problem_responses(404)},
        tags=["partner"],
        description="A partner buys an offer for a customer under its own reference "
        "(idempotent on it); 404 when no customer matches or the offer is unknown.",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        activation = services.partner_activation_create(
            partner=_partner(request),
            offer_id=values["offer"],
            reference=values["reference"],
            customer_id=values.get("customer"),
            customer_phone=values.get("customer_phone"),
        )
        location = reverse(
            "partner-activation-validate", kwargs={"reference": activation.partner_reference}
        )
        return Response(
            PartnerActivationSerializer(activation).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class PartnerActivationValidateApi(ApiView):
    """A partner's own activation, by the partner's reference."""

    permission_classes = (IsPartner,)

    @extend_schema(responses={200: PartnerActivationSerializer}, tags=["partner"])
    def get(self, request: Request, reference: str) -> Response:
        activation = selectors.partner_activation_get(
            partner=_partner(request), reference=reference
        )
        return Response(PartnerActivationSerializer(activation).data)
