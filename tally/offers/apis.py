"""Offers HTTP interface: the catalog, activations, renewals and the customer's own account.

Views only translate HTTP: validate the input serializer, call one service or selector,
render the output serializer.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET
from tally.identity.models import CustomerProfile, User
from tally.identity.permissions import IsAdmin, IsAdminOrCustomer, IsCustomer
from tally.identity.request import request_user
from tally.ledger import selectors as ledger_selectors
from tally.ledger.serializers import (
    BalanceOutputSerializer,
    EntryOutputSerializer,
    balance_body,
    statement_response,
)
from tally.offers import catalog, selectors, services
from tally.offers.live_status import activation_status_view
from tally.offers.models import (
    Activation,
    ActivationSource,
    ActivationStatus,
    Offer,
    OfferKind,
    SubscriptionStatus,
)
from tally.platform.api.pagination import CURSOR_PARAMETERS, page_of, paginate
from tally.platform.api.schema import problem_responses
from tally.platform.api.views import ApiView
from tally.platform.exceptions import PermissionDeniedError
from tally.platform.money import MoneyField

# Limits of the catalog's fields (the columns' ranges; a longer validity is a typo).
MAX_VALIDITY_DAYS = 3650
_MAX_INT = 2_147_483_647
_MAX_BIGINT = 9_223_372_036_854_775_807
_CURRENCY = r"^[A-Z]{3}$"
# ``GET offers/expiring/?days=N`` looks at most this far ahead.
MAX_EXPIRING_DAYS = 365


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


# --- customers: who may call ---------------------------------------------------------------


def _customer(request: Request) -> CustomerProfile:
    """The calling customer's profile (the view's permission admitted customers only)."""
    user = request_user(request)
    try:
        customer: CustomerProfile = user.customer_profile
    except CustomerProfile.DoesNotExist as exc:
        raise PermissionDeniedError("Only customers can do this.") from exc
    customer.user = user
    return customer


# --- activations --------------------------------------------------------------------------


class ActivationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    reference = serializers.CharField(help_text="Public reference, ACT- and 10 characters.")
    status = serializers.ChoiceField(choices=ActivationStatus.choices)
    # Named like Field.source on purpose: the serializer's metaclass takes fields off the class.
    source = serializers.ChoiceField(choices=ActivationSource.choices)  # type: ignore[assignment]
    customer_id = serializers.UUIDField()
    offer_id = serializers.UUIDField()
    subscription_id = serializers.UUIDField()
    amount = MoneyField(help_text="The price reserved on the wallet (posted or voided when final).")
    currency = serializers.CharField()
    provider_reference = serializers.CharField()
    failure_code = serializers.CharField(help_text='Why it failed; "" unless failed.')
    failure_detail = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


def _accepted(activation: Activation) -> Response:
    """202 with the pending activation and ``Location`` of its status resource."""
    return Response(
        ActivationOutputSerializer(activation_status_view(activation)).data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": activation_location(activation_id=activation.pk)},
    )


def activation_location(*, activation_id: UUID) -> str:
    return f"/api/v1/activations/{activation_id}/"


class ActivationListApi(ApiView):
    permission_classes = (IsCustomer,)
    rate_limit_class = "money"

    class InputSerializer(serializers.Serializer):
        offer = serializers.UUIDField(help_text="The offer to buy.")

    @extend_schema(
        request=InputSerializer,
        responses={202: ActivationOutputSerializer, **problem_responses(404)},
        tags=["activations"],
        description="Buy an offer from the wallet: the price is reserved and a worker "
        "activates it with the provider. 202 with `Location: /api/v1/activations/{id}/`; "
        "404 for an unknown `offer`.",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offer = selectors.offer_get_for_purchase(offer_id=data.validated_data["offer"])
        activation = services.activation_create(customer=_customer(request), offer=offer)
        return _accepted(activation)


class ActivationDetailApi(ApiView):
    permission_classes = (IsAdminOrCustomer,)

    @extend_schema(
        responses={200: ActivationOutputSerializer},
        tags=["activations"],
        description="The activation's status: from Redis while in flight, from the "
        "database once final. A customer sees its own; another's is 404.",
    )
    def get(self, request: Request, activation_id: UUID) -> Response:
        view = selectors.activation_status_for_actor(
            actor=request_user(request), activation_id=activation_id
        )
        return Response(ActivationOutputSerializer(view).data)


# --- subscriptions: renew and expiring --------------------------------------------------------


class SubscriptionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    offer = OfferOutputSerializer()
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    auto_renew = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OfferRenewApi(ApiView):
    permission_classes = (IsCustomer,)
    rate_limit_class = "money"

    class InputSerializer(serializers.Serializer):
        subscription = serializers.UUIDField(help_text="One of the caller's subscriptions.")

    @extend_schema(
        request=InputSerializer,
        responses={202: ActivationOutputSerializer, **problem_responses(404)},
        tags=["offers"],
        description="Renew an active subscription, or one expired less than "
        "OFFERS_RENEW_GRACE_DAYS ago, for one more period at the offer's current price "
        "(an activation, as `POST activations/`); 404 for a `subscription` that is not the "
        "caller's.",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = selectors.subscription_get_for_actor(
            actor=request_user(request), subscription_id=data.validated_data["subscription"]
        )
        activation = services.subscription_renew(
            actor_customer=_customer(request), subscription=subscription
        )
        return _accepted(activation)


class OfferExpiringApi(ApiView):
    permission_classes = (IsCustomer,)

    class QuerySerializer(serializers.Serializer):
        days = serializers.IntegerField(
            min_value=1, max_value=MAX_EXPIRING_DAYS, required=False, default=None
        )

    @extend_schema(
        parameters=[
            *CURSOR_PARAMETERS,
            OpenApiParameter(
                "days",
                OpenApiTypes.INT,
                description=f"Within this many days (1-{MAX_EXPIRING_DAYS}); "
                "default OFFERS_REMINDER_DAYS.",
            ),
        ],
        responses={200: page_of(SubscriptionOutputSerializer)},
        tags=["offers"],
        description="The caller's active subscriptions expiring within `days`, soonest first.",
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = query.validated_data["days"] or settings.OFFERS_REMINDER_DAYS
        return paginate(
            request=request,
            view=self,
            queryset=selectors.subscription_expiring_for_actor(
                actor=request_user(request), days=days
            ),
            serializer_class=SubscriptionOutputSerializer,
            ordering="expires_at",
        )


# --- the customer's own account ----------------------------------------------------------


class AccountBalanceApi(ApiView):
    permission_classes = (IsCustomer,)

    @extend_schema(responses={200: BalanceOutputSerializer}, tags=["account"])
    def get(self, request: Request) -> Response:
        balance = ledger_selectors.owner_balance(
            owner_id=request_user(request).pk, kind=CUSTOMER_WALLET
        )
        return Response(balance_body(balance))


class AccountTransactionListApi(ApiView):
    permission_classes = (IsCustomer,)

    @extend_schema(
        parameters=CURSOR_PARAMETERS,
        responses={200: page_of(EntryOutputSerializer)},
        tags=["account"],
        description="The wallet's statement, newest first (a purchase shows once posted).",
    )
    def get(self, request: Request) -> Response:
        return statement_response(
            request=request,
            view=self,
            entries=selectors.wallet_entries_for_actor(actor=request_user(request)),
        )


class AccountTransactionDetailApi(ApiView):
    permission_classes = (IsCustomer,)

    @extend_schema(responses={200: EntryOutputSerializer}, tags=["account"])
    def get(self, request: Request, entry_id: int) -> Response:
        entry = selectors.wallet_entry_get_for_actor(actor=request_user(request), entry_id=entry_id)
        return Response(EntryOutputSerializer(entry).data)


class AccountSubscriptionListApi(ApiView):
    permission_classes = (IsCustomer,)

    @extend_schema(
        parameters=CURSOR_PARAMETERS,
        responses={200: page_of(SubscriptionOutputSerializer)},
        tags=["account"],
    )
    def get(self, request: Request) -> Response:
        return paginate(
            request=request,
            view=self,
            queryset=selectors.subscription_list_for_actor(actor=request_user(request)),
            serializer_class=SubscriptionOutputSerializer,
        )


class AccountSubscriptionDetailApi(ApiView):
    permission_classes = (IsCustomer,)

    class InputSerializer(serializers.Serializer):
        auto_renew = serializers.BooleanField(
            help_text="Renew automatically at expiry when the wallet affords it."
        )

    @extend_schema(responses={200: SubscriptionOutputSerializer}, tags=["account"])
    def get(self, request: Request, subscription_id: UUID) -> Response:
        subscription = selectors.subscription_get_for_actor(
            actor=request_user(request), subscription_id=subscription_id
        )
        return Response(SubscriptionOutputSerializer(subscription).data)

    @extend_schema(
        request=InputSerializer, responses={200: SubscriptionOutputSerializer}, tags=["account"]
    )
    def patch(self, request: Request, subscription_id: UUID) -> Response:
        subscription = selectors.subscription_get_for_actor(
            actor=request_user(request), subscription_id=subscription_id
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.subscription_set_auto_renew(
            customer=_customer(request),
            subscription=subscription,
            auto_renew=data.validated_data["auto_renew"],
        )
        return Response(SubscriptionOutputSerializer(subscription).data)
