"""Catalog HTTP interface: the marketplace's services and their variants.

Views only translate HTTP: validate the input serializer, call one service or selector,
render the output serializer. Who sees what is decided by ``tally.catalog.selectors``, who
may change what by ``tally.catalog.services``.
"""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from django.core.validators import URLValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from tally.catalog import selectors, services
from tally.catalog.models import MAX_IMAGES, Service, Variant
from tally.catalog.permissions import IsAdminOrVendor, IsServiceOwner
from tally.identity.models import User
from tally.identity.request import request_user
from tally.identity.selectors import vendor_get_for_actor
from tally.platform.api.pagination import CURSOR_PARAMETERS, page_of, paginate
from tally.platform.api.schema import PROBLEM_MEDIA_TYPES, ProblemSerializer
from tally.platform.api.views import ApiView
from tally.platform.exceptions import NotFoundError
from tally.platform.money import MoneyField

_TAGS = ["catalog"]
_CURRENCIES = sorted(services.currencies_accepted())


def _caller(request: Request) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


# --- serializers -------------------------------------------------------------------------


class VariantOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    service = serializers.UUIDField(source="service_id")
    name = serializers.CharField()
    sku = serializers.CharField()
    price = MoneyField()
    currency = serializers.CharField()
    stock = serializers.IntegerField(
        allow_null=True, help_text="Units left to sell; null: unlimited."
    )
    in_stock = serializers.SerializerMethodField(help_text="Unlimited, or units left.")
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_in_stock(self, variant: Variant) -> bool:
        return variant.stock is None or variant.stock > 0


class ServiceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    vendor = serializers.UUIDField(source="vendor_id")
    vendor_name = serializers.CharField(source="vendor.business_name")
    title = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    images = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    min_price = MoneyField(
        allow_null=True, help_text="The cheapest active variant's price; null: none active."
    )
    in_stock = serializers.BooleanField(help_text="An active variant is unlimited or has units.")
    variants = VariantOutputSerializer(
        many=True,
        source="listed_variants",
        help_text="Cheapest first: the active ones; every one for its vendor and admins.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _fixed(name: str, message: str) -> Any:
    def validate(self: serializers.Serializer, attrs: dict[str, Any]) -> dict[str, Any]:
        if name in self.initial_data:
            raise serializers.ValidationError({name: [message]})
        return attrs

    return validate


class ServiceInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=services.MAX_TITLE_LENGTH)
    description = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=services.MAX_DESCRIPTION_LENGTH
    )
    category = serializers.RegexField(
        services.CATEGORY_PATTERN,
        max_length=services.MAX_CATEGORY_LENGTH,
        error_messages={
            "invalid": "Use a lower-case slug of letters, digits and single hyphens, "
            "like car-repair."
        },
    )
    images = serializers.ListField(
        child=serializers.CharField(
            max_length=services.MAX_IMAGE_URL_LENGTH,
            validators=[
                URLValidator(
                    schemes=list(services.IMAGE_URL_SCHEMES), message="Enter an http(s) URL."
                )
            ],
        ),
        max_length=MAX_IMAGES,
        required=False,
        default=list,
        help_text=f"http(s) URLs, at most {MAX_IMAGES}.",
    )
    is_active = serializers.BooleanField(required=False, default=True)
    vendor = serializers.UUIDField(
        required=False, help_text="Admins only: the active vendor that sells it."
    )


class ServiceUpdateInputSerializer(ServiceInputSerializer):
    """Any field of the service except its vendor (fixed at creation)."""

    vendor = None  # type: ignore[assignment]
    validate = _fixed("vendor", "A service's vendor never changes.")


class VariantInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=services.MAX_VARIANT_NAME_LENGTH)
    sku = serializers.RegexField(
        services.SKU_PATTERN,
        max_length=services.MAX_SKU_LENGTH,
        error_messages={"invalid": "Use visible characters without spaces."},
        help_text="Unique within the service.",
    )
    price = MoneyField()
    currency = serializers.ChoiceField(
        choices=_CURRENCIES,
        required=False,
        help_text="ISO 4217, two decimals; the deployment's currency when omitted. "
        "Fixed at creation.",
    )
    stock = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=services.MAX_STOCK,
        help_text="Units to sell; null: unlimited. A change sets it (not adds to it).",
    )
    is_active = serializers.BooleanField(required=False, default=True)


class VariantUpdateInputSerializer(VariantInputSerializer):
    """Any field of the variant except its currency (fixed at creation)."""

    currency = None  # type: ignore[assignment]
    validate = _fixed("currency", "The currency is fixed when the variant is created.")


class ServiceQuerySerializer(serializers.Serializer):
    category = serializers.RegexField(
        services.CATEGORY_PATTERN, max_length=services.MAX_CATEGORY_LENGTH, required=False
    )
    vendor = serializers.UUIDField(required=False)
    min_price = MoneyField(allow_zero=True, required=False)
    max_price = MoneyField(allow_zero=True, required=False)
    in_stock = serializers.BooleanField(required=False)
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=selectors.MAX_SEARCH_LENGTH
    )
    ordering = serializers.ChoiceField(choices=selectors.ORDERINGS, required=False)
    mine = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_price": ["Must not be below min_price."]})
        return attrs


_LIST_PARAMETERS = [
    *CURSOR_PARAMETERS,
    OpenApiParameter("category", OpenApiTypes.STR, description="A category slug, exactly."),
    OpenApiParameter("vendor", OpenApiTypes.UUID, description="A vendor's id."),
    OpenApiParameter(
        "min_price",
        OpenApiTypes.STR,
        description='Cheapest active variant at least this ("10.00").',
    ),
    OpenApiParameter(
        "max_price", OpenApiTypes.STR, description='Cheapest active variant at most this ("50.00").'
    ),
    OpenApiParameter(
        "in_stock", OpenApiTypes.BOOL, description="true: only services with a variant in stock."
    ),
    OpenApiParameter(
        "search",
        OpenApiTypes.STR,
        description="Full-text search of title and description (English stemming; "
        '"quoted phrases", -excluded words, or). Most relevant first unless `ordering` is given.',
    ),
    OpenApiParameter(
        "ordering",
        OpenApiTypes.STR,
        enum=list(selectors.ORDERINGS),
        description="Default -created_at.",
    ),
    OpenApiParameter(
        "mine", OpenApiTypes.BOOL, description="Vendors: only their own services, in any state."
    ),
    OpenApiParameter(
        "is_active", OpenApiTypes.BOOL, description="Only active (true) or inactive (false) ones."
    ),
]


def _cursor_check(request: Request, pattern: re.Pattern[str]) -> None:
    """Refuse a cursor whose position is not one this list's ordering writes (400), e.g.
    a forged one or one taken from a list in another order. A cursor that does not decode
    at all is refused by the paginator itself."""
    encoded = request.query_params.get("cursor")
    if encoded is None:
        return
    try:
        tokens = parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"))
    except (ValueError, UnicodeError, binascii.Error):
        return
    position = tokens.get("p", [None])[0]
    if position is not None and not pattern.fullmatch(position):
        raise serializers.ValidationError({"cursor": ["Invalid cursor."]})


def _service_body(service: Service) -> dict[str, Any]:
    return dict(ServiceOutputSerializer(service).data)


def _reread(request: Request, service: Service) -> Service:
    """The service as the caller sees it after a write (variants and prices included)."""
    return selectors.service_get_for_actor(actor=_caller(request), service_id=service.pk)


# --- services ----------------------------------------------------------------------------


class ServiceListApi(ApiView):
    # Anyone reads the catalog; admins and vendors add to it (the services decide the rest).
    permission_classes = (AllowAny,)
    method_permission_classes = {"POST": (IsAdminOrVendor,)}

    @extend_schema(
        parameters=_LIST_PARAMETERS,
        responses={
            200: page_of(ServiceOutputSerializer),
            # Only with mine=true: anonymous (401), not a vendor (403).
            (401, PROBLEM_MEDIA_TYPES[0]): ProblemSerializer,
            (403, PROBLEM_MEDIA_TYPES[0]): ProblemSerializer,
        },
        tags=_TAGS,
        operation_id="services_list",
        description="The public catalog: active services of active vendors with an active "
        "variant, each with its active variants. `mine=true` (vendors): the caller's own "
        "services in any state, with every variant. Admins see every service.",
    )
    def get(self, request: Request) -> Response:
        query = ServiceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        mine = bool(params.get("mine"))
        actor = request_user(request) if mine else _caller(request)
        listing = selectors.service_list_for_actor(
            actor=actor,
            mine=mine,
            ordering=params.get("ordering"),
            filters=selectors.ServiceFilters(
                category=params.get("category"),
                vendor_id=params.get("vendor"),
                min_price=params.get("min_price"),
                max_price=params.get("max_price"),
                in_stock=bool(params.get("in_stock")),
                search=(params.get("search") or "").strip() or None,
                is_active=params.get("is_active"),
            ),
        )
        _cursor_check(request, listing.position_pattern)
        return paginate(
            request=request,
            view=self,
            queryset=listing.services,
            serializer_class=ServiceOutputSerializer,
            ordering=listing.ordering,
        )

    @extend_schema(
        request=ServiceInputSerializer,
        responses={201: ServiceOutputSerializer},
        tags=_TAGS,
        description="An active vendor adds a service of its own (422 vendor_inactive "
        "otherwise); an admin adds one for an active `vendor`. It is on sale once it has an "
        "active variant.",
    )
    def post(self, request: Request) -> Response:
        data = ServiceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        actor = request_user(request)
        vendor_id = values.pop("vendor", None)
        vendor = None
        if vendor_id is not None:
            # A vendor named in the body that the caller cannot see is bad input, not a
            # missing resource: services/ exists.
            try:
                vendor = vendor_get_for_actor(actor=actor, vendor_id=vendor_id)
            except NotFoundError as exc:
                raise serializers.ValidationError({"vendor": ["No such vendor."]}) from exc
        service = services.service_create(
            actor=actor, vendor=vendor, draft=services.ServiceDraft(**values)
        )
        return Response(_service_body(_reread(request, service)), status=status.HTTP_201_CREATED)


class ServiceDetailApi(ApiView):
    permission_classes = (AllowAny,)
    method_permission_classes = {"PATCH": (IsServiceOwner,), "DELETE": (IsServiceOwner,)}

    def _managed(self, request: Request, service_id: UUID) -> Service:
        service = selectors.service_get_for_actor(
            actor=request_user(request), service_id=service_id
        )
        self.check_object_permissions(request, service)
        return service

    @extend_schema(
        responses={200: ServiceOutputSerializer},
        tags=_TAGS,
        description="A service on sale (anyone), or any of its own (its vendor), or any "
        "(admins); else 404.",
    )
    def get(self, request: Request, service_id: UUID) -> Response:
        service = selectors.service_get_for_actor(actor=_caller(request), service_id=service_id)
        return Response(_service_body(service))

    @extend_schema(
        request=ServiceUpdateInputSerializer,
        responses={200: ServiceOutputSerializer},
        tags=_TAGS,
        description="Its active vendor or an admin changes any field but `vendor`.",
    )
    def patch(self, request: Request, service_id: UUID) -> Response:
        service = self._managed(request, service_id)
        data = ServiceUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        service = services.service_update(
            actor=request_user(request),
            service=service,
            changes=services.ServiceChanges(**data.validated_data),
        )
        return Response(_service_body(_reread(request, service)))

    @extend_schema(
        responses={204: None},
        tags=_TAGS,
        description="Deactivate (never delete: orders point at it). 204, also when it was "
        "inactive already.",
    )
    def delete(self, request: Request, service_id: UUID) -> Response:
        service = self._managed(request, service_id)
        services.service_deactivate(actor=request_user(request), service=service)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- variants ----------------------------------------------------------------------------


class VariantListApi(ApiView):
    permission_classes = (AllowAny,)
    method_permission_classes = {"POST": (IsServiceOwner,)}

    @extend_schema(
        responses={200: page_of(VariantOutputSerializer)},
        tags=_TAGS,
        operation_id="services_variants_list",
        description="The service's variants in one page (`next` is null), cheapest first: "
        "the active ones; every one for its vendor and admins.",
    )
    def get(self, request: Request, service_id: UUID) -> Response:
        variants = selectors.variant_list_for_actor(actor=_caller(request), service_id=service_id)
        return Response(
            {
                "results": VariantOutputSerializer(variants, many=True).data,
                "next": None,
                "previous": None,
            }
        )

    @extend_schema(
        request=VariantInputSerializer,
        responses={201: VariantOutputSerializer},
        tags=_TAGS,
        description="Its active vendor or an admin adds a variant; a sku already used in "
        "the service is 409 sku_taken.",
    )
    def post(self, request: Request, service_id: UUID) -> Response:
        actor = request_user(request)
        service = selectors.service_get_for_actor(actor=actor, service_id=service_id)
        self.check_object_permissions(request, service)
        data = VariantInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        variant = services.variant_create(
            actor=actor, service=service, draft=services.VariantDraft(**data.validated_data)
        )
        return Response(VariantOutputSerializer(variant).data, status=status.HTTP_201_CREATED)


class VariantDetailApi(ApiView):
    permission_classes = (AllowAny,)
    method_permission_classes = {"PATCH": (IsServiceOwner,), "DELETE": (IsServiceOwner,)}

    def _managed(self, request: Request, service_id: UUID, variant_id: UUID) -> Variant:
        variant = selectors.variant_get_for_actor(
            actor=request_user(request), service_id=service_id, variant_id=variant_id
        )
        self.check_object_permissions(request, variant)
        return variant

    @extend_schema(responses={200: VariantOutputSerializer}, tags=_TAGS)
    def get(self, request: Request, service_id: UUID, variant_id: UUID) -> Response:
        variant = selectors.variant_get_for_actor(
            actor=_caller(request), service_id=service_id, variant_id=variant_id
        )
        return Response(VariantOutputSerializer(variant).data)

    @extend_schema(
        request=VariantUpdateInputSerializer,
        responses={200: VariantOutputSerializer},
        tags=_TAGS,
        description="Change any field but `currency`. `stock` is set, not added to: the "
        "units left for new orders from now on (null: unlimited).",
    )
    def patch(self, request: Request, service_id: UUID, variant_id: UUID) -> Response:
        variant = self._managed(request, service_id, variant_id)
        data = VariantUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        variant = services.variant_update(
            actor=request_user(request),
            variant=variant,
            changes=services.VariantChanges(**data.validated_data),
        )
        return Response(VariantOutputSerializer(variant).data)

    @extend_schema(
        responses={204: None},
        tags=_TAGS,
        description="Deactivate (never delete: order items point at it). 204, also when it "
        "was inactive already.",
    )
    def delete(self, request: Request, service_id: UUID, variant_id: UUID) -> Response:
        variant = self._managed(request, service_id, variant_id)
        services.variant_deactivate(actor=request_user(request), variant=variant)
        return Response(status=status.HTTP_204_NO_CONTENT)
