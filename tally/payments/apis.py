"""Payments HTTP interface: paying an order, a payment's status, an admin's confirmation of
cash and bank transfers.

Views only translate HTTP: validate the input serializer, call one service or selector,
render the output serializer.
"""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from tally.identity.permissions import IsAdmin
from tally.identity.request import request_user
from tally.orders import selectors as order_selectors
from tally.orders.http import TOKEN_PARAMETERS, order_access_token, request_caller
from tally.payments import selectors, services
from tally.payments.models import Payment, PaymentMethod, PaymentStatus
from tally.platform.api.views import ApiView
from tally.platform.money import MoneyField


class PaymentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    order_id = serializers.UUIDField()
    order_status = serializers.CharField(source="order.status")
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    gateway = serializers.CharField()
    status = serializers.ChoiceField(choices=PaymentStatus.choices)
    amount = MoneyField()
    currency = serializers.CharField()
    refunded_amount = MoneyField(allow_zero=True)
    gateway_reference = serializers.CharField()
    redirect_url = serializers.CharField(
        help_text="Hosted payments (SSLCommerz): send the buyer here; empty otherwise."
    )
    card_last4 = serializers.CharField()
    failure_reason = serializers.CharField()
    captured_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PaymentInputSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    card_number = serializers.CharField(
        required=False,
        max_length=23,
        help_text="Cards through the sandbox gateway only: one of its test card numbers.",
    )


def _location(payment: Payment) -> str:
    return f"/api/v1/payments/{payment.pk}/"


class OrderPayApi(ApiView):
    # The buyer: a customer, or a guest with the order's token (the services decide).
    permission_classes = (AllowAny,)
    rate_limit_class = "money"

    @extend_schema(
        parameters=TOKEN_PARAMETERS,
        request=PaymentInputSerializer,
        responses={201: PaymentOutputSerializer, 202: PaymentOutputSerializer},
        tags=["payments"],
        operation_id="orders_process_payment",
        description="Pay a pending order. `wallet` (customers): captured at once, 201. Cards, "
        "PayPal, crypto: 202 and a `Location` to follow; the gateway's answer settles it "
        "(a hosted gateway's `redirect_url` appears there). Cash and bank transfers: 202, "
        "an admin confirms. 409 `invalid_state` unless the order is pending.",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        data = PaymentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = request_caller(request)
        access = order_selectors.order_get_for_actor(
            actor=actor, order_id=order_id, access_token=order_access_token(request)
        )
        payment = services.payment_start(
            access=access, actor=actor, request=services.PaymentRequest(**data.validated_data)
        )
        captured = payment.status == PaymentStatus.CAPTURED
        return Response(
            PaymentOutputSerializer(payment).data,
            status=status.HTTP_201_CREATED if captured else status.HTTP_202_ACCEPTED,
            headers={"Location": _location(payment)},
        )


class PaymentDetailApi(ApiView):
    permission_classes = (AllowAny,)

    @extend_schema(
        parameters=TOKEN_PARAMETERS,
        responses={200: PaymentOutputSerializer},
        tags=["payments"],
        description="A payment of the caller's order (the guest: with the order's token), or "
        "any payment (admins). Anyone else: 404.",
    )
    def get(self, request: Request, payment_id: UUID) -> Response:
        payment = selectors.payment_get_for_actor(
            actor=request_caller(request),
            payment_id=payment_id,
            access_token=order_access_token(request),
        )
        return Response(PaymentOutputSerializer(payment).data)


class PaymentConfirmInputSerializer(serializers.Serializer):
    reference = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=128,
        help_text="The bank's or the till's reference of the money received.",
    )  # fmt: skip


class PaymentConfirmApi(ApiView):
    permission_classes = (IsAdmin,)
    rate_limit_class = "money"

    @extend_schema(
        request=PaymentConfirmInputSerializer,
        responses={200: PaymentOutputSerializer},
        tags=["payments"],
        description="An admin confirms that a cash or bank-transfer payment arrived: captured, "
        "split between the vendors, and the order confirmed (audited).",
    )
    def post(self, request: Request, payment_id: UUID) -> Response:
        data = PaymentConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = request_user(request)
        payment = selectors.payment_get_for_actor(actor=actor, payment_id=payment_id)
        payment = services.payment_confirm_manual(
            actor=actor, payment=payment, reference=data.validated_data["reference"]
        )
        return Response(PaymentOutputSerializer(payment).data)


class PaymentWithdrawApi(ApiView):
    # The buyer (customer, or guest with the order's token) or an admin; the selector decides.
    permission_classes = (AllowAny,)
    rate_limit_class = "money"

    @extend_schema(
        parameters=TOKEN_PARAMETERS,
        request=None,
        responses={200: PaymentOutputSerializer},
        tags=["payments"],
        description="Withdraw a cash or bank-transfer payment not confirmed yet: cancelled, "
        "the order pending again (pay another way, or cancel it to release its stock). 409 "
        "`payment_in_progress` for a card payment in progress; 409 `invalid_state` once "
        "settled.",
    )
    def post(self, request: Request, payment_id: UUID) -> Response:
        actor = request_caller(request)
        payment = selectors.payment_get_for_actor(
            actor=actor, payment_id=payment_id, access_token=order_access_token(request)
        )
        payment = services.payment_withdraw(actor=actor, payment=payment)
        return Response(PaymentOutputSerializer(payment).data)
