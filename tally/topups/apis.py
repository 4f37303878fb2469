"""Top-up HTTP interface: translate requests to services and selectors, nothing more."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from tally.identity import selectors as identity_selectors
from tally.identity.permissions import IsAdmin, IsAdminOrVendor
from tally.identity.request import request_user
from tally.platform.api.pagination import CURSOR_PARAMETERS, page_of, paginate
from tally.platform.api.views import ApiView
from tally.platform.money import MoneyField
from tally.platform.phones import PhoneNumberField
from tally.topups import selectors, services


class ChargeSaleOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    vendor = serializers.UUIDField(source="vendor_id")
    phone_number = serializers.CharField(source="phone_number.number", help_text="E.164")
    amount = MoneyField()
    transfer = serializers.UUIDField(source="transfer_id", help_text="The ledger transfer.")
    created_at = serializers.DateTimeField()


class PhoneNumberOutputSerializer(serializers.Serializer):
    """A registered phone number, as the caller may see it (the label only if it is an
    admin or registered the number)."""

    id = serializers.UUIDField()
    number = serializers.CharField(help_text="E.164")
    # DRF pops declared fields off the class, so this never shadows Field.label at run time.
    label = serializers.CharField(  # type: ignore[assignment]
        source="visible_label",
        help_text="The registrant's note; empty for a vendor that only sold to the number.",
    )
    created_at = serializers.DateTimeField()


# --- charge sales -----------------------------------------------------------------------


class VendorChargeListApi(ApiView):
    """A vendor's charge sales: the vendor sells (POST); it and admins read (GET)."""

    permission_classes = (IsAuthenticated,)
    rate_limit_class = "money"

    class InputSerializer(serializers.Serializer):
        phone_number = PhoneNumberField(help_text="Any common notation; stored as E.164.")
        amount = MoneyField(help_text='Decimal string with at most 2 places, e.g. "50.00".')

    class CreatedOutputSerializer(ChargeSaleOutputSerializer):
        remaining_credit = MoneyField(help_text="The vendor's credit balance after this sale.")

    @extend_schema(
        parameters=CURSOR_PARAMETERS,
        responses={200: page_of(ChargeSaleOutputSerializer)},
        tags=["charges"],
    )
    def get(self, request: Request, vendor_id: UUID) -> Response:
        vendor = identity_selectors.vendor_get_for_actor(
            actor=request_user(request), vendor_id=vendor_id
        )
        return paginate(
            request=request,
            view=self,
            queryset=selectors.charge_sale_list_for_vendor(vendor=vendor),
            serializer_class=ChargeSaleOutputSerializer,
        )

    @extend_schema(
        request=InputSerializer, responses={201: CreatedOutputSerializer}, tags=["charges"]
    )
    def post(self, request: Request, vendor_id: UUID) -> Response:
        vendor = selectors.vendor_get_for_seller(actor=request_user(request), vendor_id=vendor_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.charge_sale_create(
            vendor=vendor,
            phone_number=data.validated_data["phone_number"],
            amount_minor=data.validated_data["amount"],
        )
        body = dict(ChargeSaleOutputSerializer(result.sale).data)
        body["remaining_credit"] = MoneyField().to_representation(result.remaining_credit_minor)
        return Response(body, status=status.HTTP_201_CREATED)


class ChargeSaleListApi(ApiView):
    """Every vendor's charge sales, newest first, for admins."""

    permission_classes = (IsAdmin,)

    class FilterSerializer(serializers.Serializer):
        vendor = serializers.UUIDField(required=False, help_text="A vendor's id.")
        phone_number = PhoneNumberField(
            required=False, help_text="Any common notation; matched as E.164."
        )

    @extend_schema(
        parameters=[FilterSerializer, *CURSOR_PARAMETERS],
        responses={200: page_of(ChargeSaleOutputSerializer)},
        tags=["charges"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginate(
            request=request,
            view=self,
            queryset=selectors.charge_sale_list_for_actor(
                actor=request_user(request),
                vendor_id=filters.validated_data.get("vendor"),
                phone_number=filters.validated_data.get("phone_number"),
            ),
            serializer_class=ChargeSaleOutputSerializer,
        )


# --- phone numbers ----------------------------------------------------------------------


class PhoneNumberInputSerializer(serializers.Serializer):
    number = PhoneNumberField(help_text="Any common notation; stored as E.164.")
    label = serializers.CharField(  # type: ignore[assignment]  # see PhoneNumberOutputSerializer
        max_length=100, required=False, default="", allow_blank=True
    )


class PhoneNumberListApi(ApiView):
    permission_classes = (IsAdminOrVendor,)

    @extend_schema(
        parameters=CURSOR_PARAMETERS,
        responses={200: page_of(PhoneNumberOutputSerializer)},
        tags=["phone-numbers"],
    )
    def get(self, request: Request) -> Response:
        return paginate(
            request=request,
            view=self,
            queryset=selectors.phone_number_list_for_actor(actor=request_user(request)),
            serializer_class=PhoneNumberOutputSerializer,
        )

    @extend_schema(
        request=PhoneNumberInputSerializer,
        responses={201: PhoneNumberOutputSerializer},
        tags=["phone-numbers"],
    )
    def post(self, request: Request) -> Response:
        data = PhoneNumberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = request_user(request)
        created = services.phone_number_create(actor=actor, **data.validated_data)
        phone_number = selectors.phone_number_get_for_actor(actor=actor, phone_number_id=created.id)
        return Response(
            PhoneNumberOutputSerializer(phone_number).data, status=status.HTTP_201_CREATED
        )


class PhoneNumberDetailApi(ApiView):
    permission_classes = (IsAdminOrVendor,)

    @extend_schema(responses={200: PhoneNumberOutputSerializer}, tags=["phone-numbers"])
    def get(self, request: Request, phone_number_id: UUID) -> Response:
        phone_number = selectors.phone_number_get_for_actor(
            actor=request_user(request), phone_number_id=phone_number_id
        )
        return Response(PhoneNumberOutputSerializer(phone_number).data)

    @extend_schema(
        request=PhoneNumberInputSerializer,
        responses={200: PhoneNumberOutputSerializer},
        tags=["phone-numbers"],
    )
    def put(self, request: Request, phone_number_id: UUID) -> Response:
        actor = request_user(request)
        phone_number = selectors.phone_number_get_for_actor(
            actor=actor, phone_number_id=phone_number_id
        )
        data = PhoneNumberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.phone_number_update(actor=actor, phone_number=phone_number, **data.validated_data)
        phone_number = selectors.phone_number_get_for_actor(
            actor=actor, phone_number_id=phone_number_id
        )
        return Response(PhoneNumberOutputSerializer(phone_number).data)

    @extend_schema(responses={204: None}, tags=["phone-numbers"])
    def delete(self, request: Request, phone_number_id: UUID) -> Response:
        actor = request_user(request)
        phone_number = selectors.phone_number_get_for_actor(
            actor=actor, phone_number_id=phone_number_id
        )
        services.phone_number_delete(actor=actor, phone_number=phone_number)
        return Response(status=status.HTTP_204_NO_CONTENT)
