"""Refunds HTTP interface: refunding a paid order, and reading its refunds.

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

from tally.identity.permissions import IsAdminOrVendor
from tally.identity.request import request_user
from tally.orders import selectors as order_selectors
from tally.orders.http import TOKEN_PARAMETERS, order_access_token, request_caller
from tally.payments import refunds
from tally.payments.models import RefundDestination, RefundStatus
from tally.platform.api.pagination import CURSOR_PARAMETERS, CursorPagination, page_of
from tally.platform.api.views import ApiView
from tally.platform.money import MoneyField

MAX_REFUND_LINES = 100


class RefundLineInputSerializer(serializers.Serializer):
    item_id = serializers.UUIDField(help_text="A line of the order (`items[].id`).")
    amount = MoneyField(
        required=False,
        help_text="How much of the line's price to give back; all that is left when absent.",
    )


class RefundInputSerializer(serializers.Serializer):
    amount = MoneyField(
        required=False,
        help_text="Part of the whole order to give back (spread over its lines, shipping and "
        "tax). Absent, with no `lines`: all that is left (a full refund).",
    )
    # DRF's list serializer takes min_length and max_length (checked before any line is
    # read); its stubs do not know them.
    lines = RefundLineInputSerializer(  # type: ignore[call-arg]
        many=True,
        required=False,
        min_length=1,
        max_length=MAX_REFUND_LINES,
        help_text="Lines to give back (instead of `amount`). Vendors must name their lines.",
    )
    destination = serializers.ChoiceField(
        choices=RefundDestination.choices,
        default=RefundDestination.ORIGINAL,
        help_text="`original`: back through the payment's method (a wallet payment: to the "
        "wallet); `wallet`: into the customer's wallet (customers' orders only).",
    )
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=500)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        lines = attrs.get("lines") or []
        if lines and attrs.get("amount") is not None:
            raise serializers.ValidationError({"amount": ["Give `amount` or `lines`, not both."]})
        ids = [line["item_id"] for line in lines]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError({"lines": ["Name each line once."]})
        return attrs


class RefundLineOutputSerializer(serializers.Serializer):
    item_id = serializers.UUIDField()
    amount = MoneyField()


class RefundOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    order_id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    status = serializers.CharField(help_text="`pending`, `succeeded` or `failed`.")
    destination = serializers.ChoiceField(choices=RefundDestination.choices)
    amount = MoneyField(
        allow_null=True, help_text="The whole refund; null in a vendor's view (see lines)."
    )
    currency = serializers.CharField()
    lines = RefundLineOutputSerializer(
        many=True,
        help_text="Its share of each line (a vendor sees only its own lines); the rest of "
        "`amount` is `shipping_and_tax`.",
    )
    shipping_and_tax = MoneyField(allow_zero=True, allow_null=True)
    vendor_amount = MoneyField(
        allow_null=True, help_text="A vendor's view: the sum of its lines; null otherwise."
    )
    reason = serializers.CharField()
    gateway_reference = serializers.CharField()
    failure_reason = serializers.CharField()
    order_status = serializers.CharField()
    payment_status = serializers.CharField(
        help_text="The payment's status: `captured`, `partially_refunded` or `refunded`."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def refund_body(view: refunds.RefundView) -> dict[str, Any]:
    refund = view.refund
    lines = [{"item_id": line.item_id, "amount": line.amount} for line in view.lines]
    vendor = view.relation == "vendor"
    line_sum = sum(line.amount for line in view.lines)
    return dict(
        RefundOutputSerializer(
            {
                "id": refund.pk,
                "order_id": refund.order_id,
                "payment_id": refund.payment_id,
                "status": refund.status,
                "destination": refund.destination,
                "amount": None if vendor else refund.amount,
                "currency": refund.payment.currency,
                "lines": lines,
                "shipping_and_tax": None if vendor else refund.amount - line_sum,
                "vendor_amount": line_sum if vendor else None,
                "reason": refund.reason,
                "gateway_reference": refund.gateway_reference,
                "failure_reason": refund.failure_reason,
                "order_status": refund.order.status,
                "payment_status": refund.payment.status,
                "created_at": refund.created_at,
                "updated_at": refund.updated_at,
            }
        ).data
    )


def refund_location(refund_id: Any) -> str:
    return f"/api/v1/refunds/{refund_id}/"


class OrderRefundApi(ApiView):
    # Admins, and vendors for their own lines (the service decides); buyers get 403.
    permission_classes = (IsAdminOrVendor,)
    rate_limit_class = "money"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Location",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                response=[201, 202],
                description="The refund: `/api/v1/refunds/{id}/`.",
            )
        ],
        request=RefundInputSerializer,
        responses={201: RefundOutputSerializer, 202: RefundOutputSerializer},
        tags=["payments"],
        operation_id="orders_refund",
        description="Give back (part of) a paid order: no body, all that is left (a paid "
        "order is cancelled this way); `amount`, part of the whole order; `lines`, parts of "
        "lines (vendors: their own lines only). To a wallet, or for a wallet payment: 201, "
        "done. Back to a card or cash: 202 and a `Location` to follow until the gateway "
        "confirms. 409 `invalid_state` for an unpaid order (cancel it instead), one in "
        "payment or refunded in full; 422 `refund_exceeds_captured`, `refund_exceeds_line`, "
        "`unknown_line`, `wallet_requires_account`, `insufficient_funds` (a vendor's "
        "earnings already paid out); 403 for buyers and for other vendors' lines.",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        data = RefundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        actor = request_user(request)
        access = order_selectors.order_get_for_actor(actor=actor, order_id=order_id)
        refund = refunds.refund_create(
            access=access,
            actor=actor,
            request=refunds.RefundRequest(
                amount=values.get("amount"),
                lines=[
                    refunds.RefundLineRequest(item_id=line["item_id"], amount=line.get("amount"))
                    for line in values.get("lines") or []
                ],
                destination=values["destination"],
                reason=values["reason"],
            ),
        )
        body = refund_body(refunds.refund_view_of(refund=refund, access=access))
        done = refund.status == RefundStatus.SUCCEEDED
        return Response(
            body,
            status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED,
            headers={"Location": refund_location(refund.pk)},
        )


class RefundCursorPagination(CursorPagination):
    # DRF takes a tuple (the cursor's position is the first column); its stubs say str.
    ordering = ("-created_at", "-id")  # type: ignore[assignment]


class OrderRefundListApi(ApiView):
    permission_classes = (AllowAny,)

    @extend_schema(
        parameters=[*TOKEN_PARAMETERS, *CURSOR_PARAMETERS],
        responses={200: page_of(RefundOutputSerializer)},
        tags=["payments"],
        description="An order's refunds, newest first: for its buyer (a guest: with the "
        "token) and admins all of them; for a vendor those touching its lines (its lines "
        "only). Anyone else: 404.",
    )
    def get(self, request: Request, order_id: UUID) -> Response:
        access = order_selectors.order_get_for_actor(
            actor=request_caller(request),
            order_id=order_id,
            access_token=order_access_token(request),
        )
        paginator = RefundCursorPagination()
        page = paginator.paginate_queryset(
            refunds.refund_list_for_order(access=access), request, self
        )
        return paginator.get_paginated_response(
            [
                refund_body(refunds.refund_view_of(refund=refund, access=access))
                for refund in page or []
            ]
        )


class RefundDetailApi(ApiView):
    permission_classes = (AllowAny,)

    @extend_schema(
        parameters=TOKEN_PARAMETERS,
        responses={200: RefundOutputSerializer},
        tags=["payments"],
        description="One refund: for its order's buyer (a guest: with the token) and admins; "
        "for a vendor if it touches its lines. Anyone else: 404. A pending refund becomes "
        "`succeeded` or `failed` once the gateway answers.",
    )
    def get(self, request: Request, refund_id: UUID) -> Response:
        view = refunds.refund_get_for_actor(
            actor=request_caller(request),
            refund_id=refund_id,
            access_token=order_access_token(request),
        )
        return Response(refund_body(view))
