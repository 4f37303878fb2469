"""Credit HTTP interface: translate requests to services and selectors, nothing more."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.validators import URLValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from tally.credit import low_credit, selectors, services
from tally.credit.ledger_vocabulary import VENDOR_PREPAID
from tally.credit.models import CreditRequest, CreditRequestStatus
from tally.identity import selectors as identity_selectors
from tally.identity.models import VendorProfile
from tally.identity.permissions import IsAdmin, IsVendor
from tally.identity.request import request_user
from tally.ledger import selectors as ledger_selectors
from tally.ledger.serializers import (
    BalanceOutputSerializer,
    EntryOutputSerializer,
    balance_body,
    statement_response,
)
from tally.platform.api.pagination import CURSOR_PARAMETERS, page_of, paginate
from tally.platform.api.views import ApiView
from tally.platform.money import MoneyField
from tally.platform.operations.selectors import operation_location
from tally.platform.operations.serializers import OperationOutputSerializer, operation_body


class CreditRequestApprovalOutputSerializer(serializers.Serializer):
    admin_id = serializers.UUIDField()
    approved_at = serializers.DateTimeField()


class CreditRequestOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    vendor_id = serializers.UUIDField()
    amount = MoneyField()
    note = serializers.CharField()
    status = serializers.ChoiceField(choices=CreditRequestStatus.choices)
    rejection_reason = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    credited_at = serializers.DateTimeField(allow_null=True)
    transfer_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    approvals_required = serializers.SerializerMethodField(
        help_text="1, or 2 (by two different admins) above the second-approval threshold."
    )
    approvals = serializers.SerializerMethodField(
        help_text="The approvals given so far, oldest first."
    )

    def get_approvals_required(self, credit_request: CreditRequest) -> int:
        return selectors.credit_request_approvals_required(credit_request=credit_request)

    @extend_schema_field(CreditRequestApprovalOutputSerializer(many=True))
    def get_approvals(self, credit_request: CreditRequest) -> Any:
        return CreditRequestApprovalOutputSerializer(
            selectors.credit_request_approvals(credit_request=credit_request), many=True
        ).data


class CreditTransactionOutputSerializer(EntryOutputSerializer):
    vendor_id = serializers.UUIDField(source="account.owner_id")


class CustomerCreditOperationOutputSerializer(OperationOutputSerializer):
    """``GET operations/{id}/`` of a customer credit (schema only; see operation_body)."""

    vendor_id = serializers.UUIDField()
    customer_id = serializers.UUIDField()
    amount = MoneyField()
    transfer_id = serializers.UUIDField(allow_null=True)


def _vendor_for(request: Request, vendor_id: UUID) -> VendorProfile:
    return identity_selectors.vendor_get_for_actor(actor=request_user(request), vendor_id=vendor_id)


def _prepaid_balance(vendor: VendorProfile) -> ledger_selectors.AccountBalance:
    return ledger_selectors.owner_balance(owner_id=vendor.user_id, kind=VENDOR_PREPAID)


# --- credit requests --------------------------------------------------------------------


class CreditRequestListApi(ApiView):
    # Anyone signed in may list (the selector scopes it); only vendors may ask.
    permission_classes = (IsAuthenticated,)
    method_permission_classes = {"POST": (IsVendor,)}

    class InputSerializer(serializers.Serializer):
        amount = MoneyField()
        note = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(
        parameters=[
            *CURSOR_PARAMETERS,
            OpenApiParameter("status", OpenApiTypes.STR, enum=CreditRequestStatus.values),
        ],
        responses={200: page_of(CreditRequestOutputSerializer)},
        tags=["credit"],
    )
    def get(self, request: Request) -> Response:
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in CreditRequestStatus.values:
            raise serializers.ValidationError(
                {"status": [f"Must be one of {', '.join(CreditRequestStatus.values)}."]}
            )
        return paginate(
            request=request,
            view=self,
            queryset=selectors.credit_request_list_for_actor(
                actor=request_user(request), status=status_filter
            ),
            serializer_class=CreditRequestOutputSerializer,
        )

    @extend_schema(
        request=InputSerializer, responses={201: CreditRequestOutputSerializer}, tags=["credit"]
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credit_request = services.credit_request_create(
            vendor_user=request_user(request),
            amount_minor=data.validated_data["amount"],
            note=data.validated_data["note"],
        )
        return Response(
            CreditRequestOutputSerializer(credit_request).data, status=status.HTTP_201_CREATED
        )


class CreditRequestDetailApi(ApiView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(responses={200: CreditRequestOutputSerializer}, tags=["credit"])
    def get(self, request: Request, credit_request_id: UUID) -> Response:
        credit_request = selectors.credit_request_get_for_actor(
            actor=request_user(request), credit_request_id=credit_request_id
        )
        return Response(CreditRequestOutputSerializer(credit_request).data)


class CreditRequestApproveApi(ApiView):
    permission_classes = (IsAdmin,)
    rate_limit_class = "money"

    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField(
            help_text='Always "accepted": the approval was recorded. The credit is applied '
            "asynchronously once the request has all the approvals it needs; "
            "`credit_request.status` is `awaiting_second_approval` while one more admin must "
            "approve."
        )
        credit_request = CreditRequestOutputSerializer()

    @extend_schema(request=None, responses={202: OutputSerializer}, tags=["credit"])
    def post(self, request: Request, credit_request_id: UUID) -> Response:
        credit_request = selectors.credit_request_get_for_actor(
            actor=request_user(request), credit_request_id=credit_request_id
        )
        credit_request = services.credit_request_approve(
            actor=request_user(request), credit_request=credit_request
        )
        return Response(
            {
                "status": "accepted",
                "credit_request": CreditRequestOutputSerializer(credit_request).data,
            },
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/credit-requests/{credit_request.pk}/"},
        )


class CreditRequestRejectApi(ApiView):
    permission_classes = (IsAdmin,)

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(
        request=InputSerializer, responses={200: CreditRequestOutputSerializer}, tags=["credit"]
    )
    def post(self, request: Request, credit_request_id: UUID) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credit_request: CreditRequest = selectors.credit_request_get_for_actor(
            actor=request_user(request), credit_request_id=credit_request_id
        )
        credit_request = services.credit_request_reject(
            actor=request_user(request),
            credit_request=credit_request,
            reason=data.validated_data["reason"],
        )
        return Response(CreditRequestOutputSerializer(credit_request).data)


# --- vendor balance, statement and direct credit ----------------------------------------


class VendorBalanceApi(ApiView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(responses={200: BalanceOutputSerializer}, tags=["vendors"])
    def get(self, request: Request, vendor_id: UUID) -> Response:
        vendor = _vendor_for(request, vendor_id)
        return Response(balance_body(_prepaid_balance(vendor)))


class LowCreditAlertOutputSerializer(serializers.Serializer):
    threshold = MoneyField(
        allow_null=True,
        source="low_credit_threshold",
        help_text="An alert is sent when a debit takes the credit from at or above this to "
        "below it; null: no alerts.",
    )
    webhook_url = serializers.CharField(
        source="alert_webhook_url", help_text="Also POSTed here, signed; empty: email only."
    )
    webhook_secret_set = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    def get_webhook_secret_set(self, vendor: VendorProfile) -> bool:
        return bool(vendor.alert_webhook_secret)

    def get_currency(self, vendor: VendorProfile) -> str:
        return str(settings.TALLY_CURRENCY)


class VendorLowCreditAlertApi(ApiView):
    """A vendor's low-credit alert settings: the vendor itself and admins (docs/alerts.md)."""

    permission_classes = (IsAuthenticated,)

    class InputSerializer(serializers.Serializer):
        threshold = MoneyField(allow_zero=True, allow_null=True, required=False)
        webhook_url = serializers.CharField(
            max_length=500,
            allow_blank=True,
            required=False,
            validators=[URLValidator(schemes=["http", "https"])],
        )
        rotate_webhook_secret = serializers.BooleanField(required=False, default=False)

    class OutputSerializer(LowCreditAlertOutputSerializer):
        webhook_secret = serializers.CharField(
            allow_null=True,
            help_text="The webhook's signing secret, only in the answer that generated it "
            "(the first URL set, or rotate_webhook_secret); null otherwise.",
        )

    def _body(self, vendor: VendorProfile, new_secret: str | None = None) -> dict[str, Any]:
        return {**LowCreditAlertOutputSerializer(vendor).data, "webhook_secret": new_secret}

    @extend_schema(responses={200: OutputSerializer}, tags=["vendors"])
    def get(self, request: Request, vendor_id: UUID) -> Response:
        return Response(self._body(_vendor_for(request, vendor_id)))

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, tags=["vendors"])
    def patch(self, request: Request, vendor_id: UUID) -> Response:
        vendor = _vendor_for(request, vendor_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        updated = low_credit.vendor_low_credit_alert_update(
            actor=request_user(request),
            vendor=vendor,
            threshold_minor=values.get("threshold", low_credit.UNSET),
            webhook_url=values.get("webhook_url", low_credit.UNSET),
            rotate_webhook_secret=values["rotate_webhook_secret"],
        )
        return Response(self._body(updated.vendor, updated.new_webhook_secret))


class VendorCreditApi(ApiView):
    permission_classes = (IsAdmin,)
    rate_limit_class = "money"

    class InputSerializer(serializers.Serializer):
        amount = MoneyField()
        reason = serializers.CharField(max_length=500)

    class OutputSerializer(BalanceOutputSerializer):
        transfer_id = serializers.UUIDField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, tags=["vendors"])
    def post(self, request: Request, vendor_id: UUID) -> Response:
        vendor = _vendor_for(request, vendor_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        increase = services.vendor_credit_increase(
            actor=request_user(request),
            vendor=vendor,
            amount_minor=data.validated_data["amount"],
            reason=data.validated_data["reason"],
        )
        body = balance_body(_prepaid_balance(vendor))
        body["transfer_id"] = increase.transfer.pk
        return Response(body)


class VendorTransactionsApi(ApiView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        parameters=CURSOR_PARAMETERS,
        responses={200: page_of(EntryOutputSerializer)},
        tags=["vendors"],
    )
    def get(self, request: Request, vendor_id: UUID) -> Response:
        vendor = _vendor_for(request, vendor_id)
        return statement_response(
            request=request,
            view=self,
            entries=ledger_selectors.owner_entries(owner_id=vendor.user_id, kind=VENDOR_PREPAID),
        )


class CreditTransactionListApi(ApiView):
    permission_classes = (IsAdmin,)

    @extend_schema(
        parameters=[*CURSOR_PARAMETERS, OpenApiParameter("vendor", OpenApiTypes.UUID)],
        responses={200: page_of(CreditTransactionOutputSerializer)},
        tags=["credit"],
    )
    def get(self, request: Request) -> Response:
        vendor_field = serializers.UUIDField(required=False)
        raw_vendor = request.query_params.get("vendor")
        try:
            vendor_id = vendor_field.run_validation(raw_vendor) if raw_vendor else None
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"vendor": exc.detail}) from exc
        return statement_response(
            request=request,
            view=self,
            entries=ledger_selectors.kind_entries(kind=VENDOR_PREPAID, owner_id=vendor_id),
            serializer_class=CreditTransactionOutputSerializer,
        )


# --- vendor → customer credit -----------------------------------------------------------


class CustomerCreditApi(ApiView):
    permission_classes = (IsVendor,)
    rate_limit_class = "money"

    class InputSerializer(serializers.Serializer):
        amount = MoneyField()

    @extend_schema(
        request=InputSerializer,
        responses={202: CustomerCreditOperationOutputSerializer},
        tags=["customers"],
    )
    def post(self, request: Request, customer_id: UUID) -> Response:
        customer = identity_selectors.customer_get_for_funding(
            actor=request_user(request), customer_id=customer_id
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        operation = services.customer_credit_request(
            vendor_user=request_user(request),
            customer=customer,
            amount_minor=data.validated_data["amount"],
        )
        return Response(
            operation_body(selectors.customer_credit_operation_as_operation(operation=operation)),
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": operation_location(operation_id=operation.pk)},
        )
