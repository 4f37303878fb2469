"""Offers HTTP interface: the catalog, activations, renewals and the customer's own account.

Views only translate HTTP: validate the input serializer, call one service or selector,
render the output serializer.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from tally.identity.models import User
from tally.identity.permissions import IsAdmin
from tally.identity.request import request_user
from tally.offers import catalog
from tally.offers.models import Offer, OfferKind
from tally.platform.api.pagination import page_of
from tally.platform.api.views import ApiView
from tally.platform.money import MoneyField

# Limits of the catalog's fields (the columns' ranges; a longer validity is a typo).
MAX_VALIDITY_DAYS = 3650
_MAX_INT = 2_147_483_647
_MAX_BIGINT = 9_223_372_036_854_775_807
_CURRENCY = r"^[A-Z]{3}$"


def _caller(request: Request) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def _kind_filter(request: Request) -> str | None:
    kind = request.query_params.get("kind")
    if kind and kind not in OfferKind.values:
        raise serializers.ValidationError(
            {"kind": [f"Must be one of {', '.join(OfferKind.values)}."]}
        )
    return kind or None


# --- catalog ----------------------------------------------------------------------------


class OfferOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OfferKind.choices)
    description = serializers.CharField()
    price = MoneyField()
    currency = serializers.CharField()
    validity_days = serializers.IntegerField()
    data_mb = serializers.IntegerField(allow_null=True, help_text="Data quota in MB; null: none.")
    voice_minutes = serializers.IntegerField(allow_null=True)
    sms = serializers.IntegerField(allow_null=True)
    tv_channels = serializers.IntegerField(allow_null=True)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OfferInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=OfferKind.choices)
    description = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=2000
    )
    price = MoneyField()
    currency = serializers.RegexField(
        _CURRENCY, required=False, help_text="ISO 4217; the deployment's currency when omitted."
    )
    validity_days = serializers.IntegerField(min_value=1, max_value=MAX_VALIDITY_DAYS)
    data_mb = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=_MAX_BIGINT
    )
    voice_minutes = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=_MAX_INT
    )
    sms = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=_MAX_INT
    )
    tv_channels = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=_MAX_INT
    )
    is_active = serializers.BooleanField(required=False, default=True)


class OfferUpdateInputSerializer(OfferInputSerializer):
    """Any field of the offer except its currency (fixed at creation)."""

    currency = None  # type: ignore[assignment]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "currency" in self.initial_data:
            raise serializers.ValidationError(
                {"currency": ["The currency is fixed when the offer is created."]}
            )
        return attrs


class OfferListApi(ApiView):
    # Anyone reads the catalog; only admins add to it.
    permission_classes = (AllowAny,)
    method_permission_classes = {"POST": (IsAdmin,)}

    @extend_schema(
        parameters=[OpenApiParameter("kind", OpenApiTypes.STR, enum=OfferKind.values)],
        responses={200: page_of(OfferOutputSerializer)},
        tags=["offers"],
        operation_id="offers_list",
        description="The catalog in one page (`next` is null), by kind then cheapest first. Anyone sees the "
        "active offers (cached); admins see every offer, inactive ones too.",
    )
    def get(self, request: Request) -> Response:
        offers = catalog.offer_list_for_actor(actor=_caller(request), kind=_kind_filter(request))
        return Response(
            {
                "results": OfferOutputSerializer(offers, many=True).data,
                "next": None,
                "previous": None,
            }
        )

    @extend_schema(
        request=OfferInputSerializer, responses={201: OfferOutputSerializer}, tags=["offers"]
    )
    def post(self, request: Request) -> Response:
        data = OfferInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offer = catalog.offer_create(
            actor=request_user(request), draft=catalog.OfferDraft(**data.validated_data)
        )
        return Response(OfferOutputSerializer(offer).data, status=status.HTTP_201_CREATED)


class OfferDetailApi(ApiView):
    permission_classes = (AllowAny,)
    method_permission_classes = {"PATCH": (IsAdmin,)}

    @extend_schema(
        responses={200: OfferOutputSerializer},
        tags=["offers"],
        description="An active offer (anyone), or any offer (admins); else 404.",
    )
    def get(self, request: Request, offer_id: UUID) -> Response:
        offer = catalog.offer_get_for_actor(actor=_caller(request), offer_id=offer_id)
        return Response(OfferOutputSerializer(offer).data)

    @extend_schema(
        request=OfferUpdateInputSerializer, responses={200: OfferOutputSerializer}, tags=["offers"]
    )
    def patch(self, request: Request, offer_id: UUID) -> Response:
        offer: Offer = catalog.offer_get_for_actor(actor=request_user(request), offer_id=offer_id)
        data = OfferUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        offer = catalog.offer_update(
            actor=request_user(request),
            offer=offer,
            changes=catalog.OfferChanges(**data.validated_data),
        )
        return Response(OfferOutputSerializer(offer).data)
