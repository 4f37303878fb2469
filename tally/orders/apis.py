"""Orders HTTP interface: checkout (customers and guests), the orders each role may read,
and the lifecycle actions (cancel, complete).

Views only translate HTTP: validate the input serializer, call one service or selector,
render the output serializer. An order's version travels as a strong entity tag: every
response about one order carries ``ETag: "<version>"``, and ``If-Match: "<version>"`` makes
a change conditional on it (a stale one is 409 ``conflict``, nothing changed). A guest
reads and cancels its order with the access token it got at checkout, sent as
``?token=…`` or the ``Order-Token`` header.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from tally.identity.permissions import IsAdminOrVendor
from tally.identity.request import request_user
from tally.orders import selectors, services
from tally.orders.http import (
    ETAG_HEADER,
    IF_MATCH_PARAMETER,
    TOKEN_PARAMETERS,
    etag_header_for,
    etag_of,
    if_match_version,
    order_access_token,
    request_caller,
)
from tally.orders.models import Order, OrderItem, OrderStatus
from tally.orders.selectors import OrderAccess
from tally.orders.serializers import (
    OrderCancelInputSerializer,
    OrderOutputSerializer,
    OrderPlaceInputSerializer,
    PlacedOrderOutputSerializer,
    VendorOrderOutputSerializer,
    order_with_items,
)
from tally.platform.api.pagination import CURSOR_PARAMETERS, CursorPagination, page_of
from tally.platform.api.views import ApiView

# --- HTTP details -------------------------------------------------------------------------


class IsCustomerOrGuest(BasePermission):
    """Orders are placed by signed-in customers and by guests (no credentials at all)."""

    message = "Only customers and guests place orders."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return not (user and user.is_authenticated) or bool(user.is_customer)


def order_location(order: Order) -> str:
    return f"/api/v1/orders/{order.pk}/"


def order_body(*, order: Order, items: list[OrderItem], relation: str) -> dict[str, Any]:
    """The order as a caller with ``relation`` to it sees it."""
    serializer_class = (
        VendorOrderOutputSerializer if relation == "vendor" else OrderOutputSerializer
    )
    return dict(serializer_class(order_with_items(order, items)).data)


def order_response(access: OrderAccess, *, order: Order | None = None) -> Response:
    """200 with one order as ``access`` allows, and its ``ETag``."""
    shown = order if order is not None else access.order
    body = order_body(order=shown, items=access.items, relation=access.relation)
    return Response(body, headers={"ETag": etag_of(shown)})


class OrderCursorPagination(CursorPagination):
    """Newest first; orders placed at the same instant by id, so pages never repeat or skip
    one."""

    # DRF takes a tuple (the cursor's position is the first column); its stubs say str.
    ordering = ("-created_at", "-id")  # type: ignore[assignment]


class _OrderListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after is not None and before is not None and after >= before:
            raise serializers.ValidationError(
                {"created_before": ["Must be later than created_after."]}
            )
        return attrs


# --- views --------------------------------------------------------------------------------


class OrderListApi(ApiView):
    # Anyone signed in reads the orders it may see; customers and guests place them.
    permission_classes = (IsAuthenticated,)
    method_permission_classes = {"POST": (IsCustomerOrGuest,)}
    rate_limit_class = "write"
    # A guest's token is shown once: an Idempotency-Key replay shows null (the order email
    # carries it too).
    idempotency_redact = ("access_token",)

    @extend_schema(
        parameters=[
            *CURSOR_PARAMETERS,
            OpenApiParameter("status", OpenApiTypes.STR, enum=OrderStatus.values),
            OpenApiParameter(
                "created_after", OpenApiTypes.DATETIME, description="ISO 8601, inclusive."
            ),
            OpenApiParameter(
                "created_before", OpenApiTypes.DATETIME, description="ISO 8601, exclusive."
            ),
        ],
        responses={200: page_of(OrderOutputSerializer)},
        tags=["orders"],
        description="Newest first. A customer sees its own orders, a vendor the orders "
        "holding its lines (only its lines, order totals null, `vendor_subtotal` set), an "
        "admin every order. Guests read their order with its token (`GET orders/{id}/`).",
    )
    def get(self, request: Request) -> Response:
        query = _OrderListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        actor = request_user(request)
        orders = selectors.order_list_for_actor(
            actor=actor,
            status=query.validated_data.get("status"),
            created_from=query.validated_data.get("created_after"),
            created_to=query.validated_data.get("created_before"),
        )
        serializer_class = VendorOrderOutputSerializer if actor.is_vendor else OrderOutputSerializer
        paginator = OrderCursorPagination()
        page = paginator.paginate_queryset(orders, request, self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)

    @extend_schema(
        parameters=[
            etag_header_for(201),
            OpenApiParameter(
                "Location",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                response=[201],
                description="The new order: `/api/v1/orders/{id}/`.",
            ),
        ],
        request=OrderPlaceInputSerializer,
        responses={201: PlacedOrderOutputSerializer},
        tags=["orders"],
        operation_id="orders_create",
        description="Place an order as a signed-in customer, or as a guest (no credentials; "
        "`email` and `name` required). Prices come from the catalog; every limited line's "
        "stock is reserved with the order, all or nothing, until it is paid or cancelled "
        "(unpaid orders are cancelled after ORDER_PAYMENT_TIMEOUT_MINUTES). 201 with "
        "`ETag` and `Location`; a guest's `access_token` is shown only here.",
    )
    def post(self, request: Request) -> Response:
        data = OrderPlaceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        placed = services.order_place(
            actor=request_caller(request),
            draft=services.OrderDraft(
                lines=[
                    services.OrderLineDraft(
                        variant_id=line["variant_id"], quantity=line["quantity"]
                    )
                    for line in values["items"]
                ],
                shipping_address=dict(values["shipping_address"]),
                currency=values.get("currency"),
                email=values["email"],
                name=values["name"],
                phone=values["phone"],
            ),
        )
        order = order_with_items(placed.order, placed.items)
        body = PlacedOrderOutputSerializer(
            order, context={"access_token": placed.access_token}
        ).data
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={"ETag": etag_of(order), "Location": order_location(order)},
        )


class OrderDetailApi(ApiView):
    # Guests come with the order's token; the selector decides who sees what (else 404).
    permission_classes = (AllowAny,)

    @extend_schema(
        parameters=[*TOKEN_PARAMETERS, ETAG_HEADER],
        responses={200: OrderOutputSerializer},
        tags=["orders"],
        description="One order with `ETag`: its buyer's (customer, or guest with the "
        "token), an admin's, or a vendor's view of its own lines. Anyone else: 404.",
    )
    def get(self, request: Request, order_id: UUID) -> Response:
        access = selectors.order_get_for_actor(
            actor=request_caller(request),
            order_id=order_id,
            access_token=order_access_token(request),
        )
        return order_response(access)


class OrderCancelApi(ApiView):
    permission_classes = (AllowAny,)

    @extend_schema(
        parameters=[*TOKEN_PARAMETERS, IF_MATCH_PARAMETER, ETAG_HEADER],
        request=OrderCancelInputSerializer,
        responses={200: OrderOutputSerializer},
        tags=["orders"],
        description="The buyer (customer, or guest with the token) or an admin cancels an "
        "unpaid order: its stock is released once, however many cancels race; cancelling a "
        "cancelled order answers it again (200). 409 `invalid_state` once a payment started "
        "or it was paid (refund it instead); 409 `conflict` for a stale `If-Match`; 403 for "
        "its vendors.",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        expected_version = if_match_version(request)
        OrderCancelInputSerializer(data=request.data).is_valid(raise_exception=True)
        actor = request_caller(request)
        access = selectors.order_get_for_actor(
            actor=actor, order_id=order_id, access_token=order_access_token(request)
        )
        order = services.order_cancel(
            access=access,
            actor=actor,
            reason="admin" if access.relation == "admin" else "customer_request",
            expected_version=expected_version,
        )
        return order_response(access, order=order)


class OrderCompleteApi(ApiView):
    permission_classes = (IsAdminOrVendor,)

    @extend_schema(
        parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        request=None,
        responses={200: OrderOutputSerializer},
        tags=["orders"],
        description="An admin, or the vendor of every line, marks a paid order delivered "
        "(confirmed → completed; again: 200, unchanged). 409 `invalid_state` before it is "
        "paid or after a refund; 409 `conflict` for a stale `If-Match`; 403 for a vendor "
        "with only some of the lines.",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        expected_version = if_match_version(request)
        actor = request_user(request)
        access = selectors.order_get_for_actor(actor=actor, order_id=order_id)
        order = services.order_complete(
            access=access, actor=actor, expected_version=expected_version
        )
        return order_response(access, order=order)
