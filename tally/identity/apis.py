"""Identity HTTP interface: translate requests to services and selectors, nothing more."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer

from tally.identity import selectors, services
from tally.identity.exceptions import InvalidCredentialsError, InvalidTokenError
from tally.identity.models import Role, User, VendorProfile
from tally.identity.permissions import IsAdmin, IsAdminOrVendor, IsVendorOrPartner
from tally.identity.request import request_user
from tally.identity.throttles import LoginThrottle, RegisterThrottle
from tally.platform.api.pagination import CURSOR_PARAMETERS, page_of, paginate
from tally.platform.api.views import ApiView
from tally.platform.phones import PhoneNumberField


class TokenPairOutputSerializer(serializers.Serializer):
    # Tokens are shown once: an Idempotency-Key replay answers them as null.
    access = serializers.CharField(allow_null=True, help_text="Null in an Idempotency-Key replay.")
    refresh = serializers.CharField(allow_null=True, help_text="Null in an Idempotency-Key replay.")


class VendorOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="user_id")
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")
    business_name = serializers.CharField()
    address = serializers.CharField()
    phone = serializers.CharField()
    is_active = serializers.BooleanField()
    activated_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def _vendor_body(vendor: VendorProfile) -> dict[str, Any]:
    return dict(VendorOutputSerializer(vendor).data)


# --- auth -------------------------------------------------------------------------------


class RegisterApi(ApiView):
    permission_classes = (AllowAny,)
    authentication_classes = ()
    throttle_classes = (RegisterThrottle,)

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
        role = serializers.ChoiceField(choices=[Role.CUSTOMER.value, Role.VENDOR.value])
        full_name = serializers.CharField(max_length=150, required=False, default="")
        phone = PhoneNumberField(required=False, default="")
        business_name = serializers.CharField(max_length=200, required=False, default="")
        address = serializers.CharField(max_length=500, required=False, default="")

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        email = serializers.EmailField()
        role = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(self.OutputSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginApi(ApiView):
    idempotency_redact = ("access", "refresh")
    permission_classes = (AllowAny,)
    authentication_classes = ()
    throttle_classes = (LoginThrottle,)

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer, responses={200: TokenPairOutputSerializer}, tags=["auth"]
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = TokenObtainPairSerializer(
            data={
                "email": data.validated_data["email"].lower(),
                "password": data.validated_data["password"],
            },
            context={"request": request},
        )
        try:
            tokens.is_valid(raise_exception=True)
        except Exception as exc:
            raise InvalidCredentialsError() from exc
        return Response(tokens.validated_data)


class RefreshApi(ApiView):
    idempotency_redact = ("access", "refresh")
    permission_classes = (AllowAny,)
    authentication_classes = ()

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=2000)

    @extend_schema(
        request=InputSerializer, responses={200: TokenPairOutputSerializer}, tags=["auth"]
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = TokenRefreshSerializer(data=data.validated_data)
        try:
            tokens.is_valid(raise_exception=True)
        except (TokenError, serializers.ValidationError, Exception) as exc:
            raise InvalidTokenError() from exc
        return Response(tokens.validated_data)


class LogoutApi(ApiView):
    permission_classes = (AllowAny,)
    authentication_classes = ()

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=2000)

    @extend_schema(request=InputSerializer, responses={204: None}, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.session_logout(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(ApiView):
    permission_classes = (IsAuthenticated,)

    class InputSerializer(serializers.Serializer):
        full_name = serializers.CharField(max_length=150, required=False)
        business_name = serializers.CharField(max_length=200, required=False)
        address = serializers.CharField(max_length=500, required=False, allow_blank=True)
        phone = PhoneNumberField(required=False)
        callback_url = serializers.URLField(max_length=500, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        class VendorPart(serializers.Serializer):
            business_name = serializers.CharField()
            address = serializers.CharField()
            phone = serializers.CharField()
            is_active = serializers.BooleanField()

        class CustomerPart(serializers.Serializer):
            phone = serializers.CharField()

        class PartnerPart(serializers.Serializer):
            name = serializers.CharField()
            callback_url = serializers.CharField()

        id = serializers.UUIDField()
        email = serializers.EmailField()
        role = serializers.CharField()
        full_name = serializers.CharField()
        date_joined = serializers.DateTimeField()
        vendor = VendorPart(allow_null=True, required=False)
        customer = CustomerPart(allow_null=True, required=False)
        partner = PartnerPart(allow_null=True, required=False)

    def _body(self, user: User) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "full_name": user.full_name,
            "date_joined": user.date_joined,
            "vendor": user.vendor_profile if user.is_vendor else None,
            "customer": user.customer_profile if user.is_customer else None,
            "partner": user.partner_profile if user.is_partner else None,
        }
        out = self.OutputSerializer(body)
        return dict(out.data)

    @extend_schema(responses={200: OutputSerializer}, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(self._body(request_user(request)))

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, tags=["auth"])
    def patch(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request_user(request), data=data.validated_data)
        user.refresh_from_db()
        return Response(self._body(user))


# --- API keys ---------------------------------------------------------------------------


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyListApi(ApiView):
    # The secret is shown once; a replayed creation answers "key": null.
    idempotency_redact = ("key",)
    permission_classes = (IsVendorOrPartner,)

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    class CreatedOutputSerializer(ApiKeyOutputSerializer):
        key = serializers.CharField(
            allow_null=True,
            help_text="The whole key. Shown only in this response; null in an "
            "Idempotency-Key replay.",
        )

    @extend_schema(
        parameters=CURSOR_PARAMETERS,
        responses={200: page_of(ApiKeyOutputSerializer)},
        tags=["api-keys"],
    )
    def get(self, request: Request) -> Response:
        return paginate(
            request=request,
            view=self,
            queryset=selectors.api_key_list_for_actor(actor=request_user(request)),
            serializer_class=ApiKeyOutputSerializer,
        )

    @extend_schema(
        request=InputSerializer, responses={201: CreatedOutputSerializer}, tags=["api-keys"]
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.api_key_create(
            user=request_user(request), name=data.validated_data["name"]
        )
        body = dict(ApiKeyOutputSerializer(issued.api_key).data)
        body["key"] = issued.key
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(ApiView):
    permission_classes = (IsVendorOrPartner,)

    @extend_schema(responses={200: ApiKeyOutputSerializer}, tags=["api-keys"])
    def get(self, request: Request, api_key_id: UUID) -> Response:
        api_key = selectors.api_key_get_for_actor(
            actor=request_user(request), api_key_id=api_key_id
        )
        return Response(ApiKeyOutputSerializer(api_key).data)

    @extend_schema(responses={204: None}, tags=["api-keys"])
    def delete(self, request: Request, api_key_id: UUID) -> Response:
        api_key = selectors.api_key_get_for_actor(
            actor=request_user(request), api_key_id=api_key_id
        )
        services.api_key_revoke(user=request_user(request), api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- vendors ----------------------------------------------------------------------------


class VendorListApi(ApiView):
    permission_classes = (IsAuthenticated,)
    method_permission_classes = {"POST": (IsAdmin,)}

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
        business_name = serializers.CharField(max_length=200)
        full_name = serializers.CharField(max_length=150, required=False, default="")
        address = serializers.CharField(max_length=500, required=False, default="")
        phone = PhoneNumberField(required=False, default="")

    @extend_schema(
        parameters=CURSOR_PARAMETERS,
        responses={200: page_of(VendorOutputSerializer)},
        tags=["vendors"],
    )
    def get(self, request: Request) -> Response:
        return paginate(
            request=request,
            view=self,
            queryset=selectors.vendor_list_for_actor(actor=request_user(request)),
            serializer_class=VendorOutputSerializer,
        )

    @extend_schema(
        request=InputSerializer, responses={201: VendorOutputSerializer}, tags=["vendors"]
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        vendor = services.vendor_create(actor=request_user(request), **data.validated_data)
        return Response(_vendor_body(vendor), status=status.HTTP_201_CREATED)


class VendorDetailApi(ApiView):
    permission_classes = (IsAuthenticated,)
    method_permission_classes = {"DELETE": (IsAdmin,)}

    class InputSerializer(serializers.Serializer):
        business_name = serializers.CharField(max_length=200, required=False)
        full_name = serializers.CharField(max_length=150, required=False)
        address = serializers.CharField(max_length=500, required=False, allow_blank=True)
        phone = PhoneNumberField(required=False, allow_blank=True)

    @extend_schema(responses={200: VendorOutputSerializer}, tags=["vendors"])
    def get(self, request: Request, vendor_id: UUID) -> Response:
        vendor = selectors.vendor_get_for_actor(actor=request_user(request), vendor_id=vendor_id)
        return Response(_vendor_body(vendor))

    @extend_schema(
        request=InputSerializer, responses={200: VendorOutputSerializer}, tags=["vendors"]
    )
    def patch(self, request: Request, vendor_id: UUID) -> Response:
        vendor = selectors.vendor_get_for_actor(actor=request_user(request), vendor_id=vendor_id)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        vendor = services.vendor_update(
            actor=request_user(request), vendor=vendor, data=data.validated_data
        )
        return Response(_vendor_body(vendor))

    @extend_schema(responses={204: None}, tags=["vendors"])
    def delete(self, request: Request, vendor_id: UUID) -> Response:
        vendor = selectors.vendor_get_for_actor(actor=request_user(request), vendor_id=vendor_id)
        services.vendor_close(actor=request_user(request), vendor=vendor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VendorActivateApi(ApiView):
    permission_classes = (IsAdmin,)

    @extend_schema(request=None, responses={200: VendorOutputSerializer}, tags=["vendors"])
    def post(self, request: Request, vendor_id: UUID) -> Response:
        vendor = selectors.vendor_get_for_actor(actor=request_user(request), vendor_id=vendor_id)
        return Response(
            _vendor_body(services.vendor_activate(actor=request_user(request), vendor=vendor))
        )


class VendorDeactivateApi(ApiView):
    permission_classes = (IsAdmin,)

    @extend_schema(request=None, responses={200: VendorOutputSerializer}, tags=["vendors"])
    def post(self, request: Request, vendor_id: UUID) -> Response:
        vendor = selectors.vendor_get_for_actor(actor=request_user(request), vendor_id=vendor_id)
        return Response(
            _vendor_body(services.vendor_deactivate(actor=request_user(request), vendor=vendor))
        )


# --- customers --------------------------------------------------------------------------


class CustomerSummaryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="user_id")
    details_visible = serializers.BooleanField(
        help_text="False for a customer another vendor created: only `id`, `masked_name` and "
        "this field are present, enough to fund its wallet."
    )
    masked_name = serializers.CharField(
        help_text='The first letter of each word of the full name, e.g. "A*** L***".'
    )


class CustomerOutputSerializer(CustomerSummaryOutputSerializer):
    """A customer. Admins and the vendor that created the customer see every field; another
    vendor that found it by phone number sees only `id`, `details_visible` (false) and
    `masked_name`."""

    email = serializers.EmailField(
        source="user.email", required=False, help_text="Absent when `details_visible` is false."
    )
    full_name = serializers.CharField(
        source="user.full_name",
        required=False,
        help_text="Absent when `details_visible` is false.",
    )
    phone = serializers.CharField(
        required=False, help_text="E.164. Absent when `details_visible` is false."
    )
    created_at = serializers.DateTimeField(
        required=False, help_text="Absent when `details_visible` is false."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # The selector decided what this caller may see; render only that.
        if not instance.details_visible:
            return dict(CustomerSummaryOutputSerializer(instance).data)
        return dict(super().to_representation(instance))


class CustomerListApi(ApiView):
    permission_classes = (IsAdminOrVendor,)

    class FilterSerializer(serializers.Serializer):
        phone = PhoneNumberField(
            required=False,
            help_text="Exact number lookup, any common notation. Finds a customer another "
            "vendor created too (active vendors; without its details).",
        )

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        phone = PhoneNumberField()
        full_name = serializers.CharField(max_length=150, required=False, default="")
        password = serializers.CharField(
            max_length=128, required=False, write_only=True, trim_whitespace=False,
            help_text="Optional: a customer created by a vendor may have no password.",
        )  # fmt: skip

    @extend_schema(
        parameters=[FilterSerializer, *CURSOR_PARAMETERS],
        responses={200: page_of(CustomerOutputSerializer)},
        tags=["customers"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginate(
            request=request,
            view=self,
            queryset=selectors.customer_list_for_actor(
                actor=request_user(request), phone=filters.validated_data.get("phone")
            ),
            serializer_class=CustomerOutputSerializer,
        )

    @extend_schema(
        request=InputSerializer, responses={201: CustomerOutputSerializer}, tags=["customers"]
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = request_user(request)
        created = services.customer_create(actor=actor, **data.validated_data)
        customer = selectors.customer_get_for_actor(actor=actor, customer_id=created.user_id)
        return Response(CustomerOutputSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailApi(ApiView):
    permission_classes = (IsAdminOrVendor,)

    @extend_schema(responses={200: CustomerOutputSerializer}, tags=["customers"])
    def get(self, request: Request, customer_id: UUID) -> Response:
        customer = selectors.customer_get_for_actor(
            actor=request_user(request), customer_id=customer_id
        )
        return Response(CustomerOutputSerializer(customer).data)
