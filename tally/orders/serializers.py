"""Orders on the wire: the checkout input and the order body every role reads.

Amounts are ``MoneyField`` strings ("12.50"); a vendor's view of an order shows its own
lines only, with the order's totals null and ``vendor_subtotal`` the sum of its lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tally.orders.models import Order, OrderItem, OrderStatus
from tally.platform.money import MoneyField, from_minor
from tally.platform.phones import PhoneNumberField

# ISO 3166-1 alpha-2: every officially assigned country code.
_ISO_3166_ALPHA_2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_ISO_3166_ALPHA_2.split())
POSTAL_CODE_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 -]*[A-Za-z0-9])?$"


# --- input --------------------------------------------------------------------------------


class _VariantIdField(serializers.UUIDField):
    """A variant's id: a UUID string (a number is refused, not read as a UUID's integer)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class _QuantityField(serializers.IntegerField):
    """Units of one variant: 1 to ``ORDER_MAX_QUANTITY`` (read when the request comes)."""

    default_error_messages = {
        "max_quantity": "At most {limit} units of one variant per order.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        quantity = int(super().to_internal_value(data))
        limit = int(settings.ORDER_MAX_QUANTITY)
        if quantity > limit:
            self.fail("max_quantity", limit=limit)
        return quantity


class _OrderLinesSerializer(serializers.ListSerializer):
    """1 to ``ORDER_MAX_LINES`` lines, counted before any line is read."""

    default_error_messages = {
        "max_lines": "At most {limit} lines per order.",
    }

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        limit = int(settings.ORDER_MAX_LINES)
        if isinstance(data, list) and len(data) > limit:
            self.fail("max_lines", limit=limit)
        return list(super().to_internal_value(data))


class OrderLineInputSerializer(serializers.Serializer):
    variant_id = _VariantIdField(help_text="The variant to buy (see `GET services/{id}/`).")
    quantity = _QuantityField(help_text="1 to ORDER_MAX_QUANTITY units.")

    class Meta:
        list_serializer_class = _OrderLinesSerializer


class _CountryField(serializers.CharField):
    default_error_messages = {
        "country": "Enter an ISO 3166-1 alpha-2 country code in capitals, like DE.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=2, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = str(super().to_internal_value(data))
        if value not in COUNTRY_CODES:
            self.fail("country")
        return value


class ShippingAddressSerializer(serializers.Serializer):
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    postal_code = serializers.RegexField(
        POSTAL_CODE_PATTERN,
        max_length=20,
        error_messages={"invalid": "Letters, digits, spaces and hyphens only."},
    )
    country = _CountryField(help_text="ISO 3166-1 alpha-2, in capitals (DE, US, …).")


class OrderPlaceInputSerializer(serializers.Serializer):
    items = OrderLineInputSerializer(
        many=True,
        allow_empty=False,
        help_text="1 to ORDER_MAX_LINES lines; one variant twice is one line.",
    )
    shipping_address = ShippingAddressSerializer()
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        required=False,
        help_text="ISO 4217; every variant must be priced in it. The deployment's currency "
        "when omitted.",
    )
    email = serializers.EmailField(
        max_length=254,
        required=False,
        default="",
        help_text="Required for a guest; a customer's account address when omitted.",
    )
    name = serializers.CharField(
        max_length=120,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for a guest; a customer's account name when omitted.",
    )
    phone = PhoneNumberField(
        required=False, default="", help_text="Optional; any common notation, stored as E.164."
    )


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="Free text for the caller's own records; the order records why it was "
        "cancelled as `customer_request` (the buyer) or `admin`.",
    )


# --- output -------------------------------------------------------------------------------


class OrderItemOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    variant_id = serializers.UUIDField()
    vendor_id = serializers.UUIDField()
    service_title = serializers.CharField(help_text="As it was when the order was placed.")
    variant_name = serializers.CharField()
    sku = serializers.CharField()
    unit_price = MoneyField()
    quantity = serializers.IntegerField()
    line_total = MoneyField()


class ShippingAddressOutputSerializer(serializers.Serializer):
    # Every order placed through the API has all six; a key an older row lacks is left out.
    line1 = serializers.CharField(required=False)
    line2 = serializers.CharField(required=False, help_text='"" when not given.')
    city = serializers.CharField(required=False)
    region = serializers.CharField(required=False, help_text='"" when not given.')
    postal_code = serializers.CharField(required=False)
    country = serializers.CharField(required=False, help_text="ISO 3166-1 alpha-2.")


_TOTALS = ("subtotal", "shipping", "tax", "total")


@extend_schema_field(
    {"type": "string", "enum": OrderStatus.values, "example": OrderStatus.PENDING.value},
    component_name="OrderStatus",
)
class OrderStatusField(serializers.ChoiceField):
    """An order's status (one schema component, shared by every order body)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=OrderStatus.choices, **kwargs)


def order_item_display_key(item: OrderItem) -> tuple[str, str, str]:
    """Lines are shown by service title, then sku (as the order email lists them)."""
    return (item.service_title, item.sku, str(item.pk))


class OrderOutputSerializer(serializers.Serializer):
    """An order as its buyer or an admin sees it: every line and the totals.

    The instance is an ``Order`` whose ``visible_items`` hold the lines to show (the list
    selector prefetches them; ``order_with_items`` sets them for one order).
    """

    vendor_view: ClassVar[bool] = False

    id = serializers.UUIDField()
    number = serializers.CharField(help_text='Human-readable, e.g. "ORD-7K3M-9Q2X".')
    status = OrderStatusField()
    customer_id = serializers.UUIDField(allow_null=True, help_text="Null for a guest order.")
    email = serializers.EmailField()
    name = serializers.CharField()
    phone = serializers.CharField(help_text='E.164, or "".')
    shipping_address = ShippingAddressOutputSerializer()
    currency = serializers.CharField()
    subtotal = MoneyField(allow_null=True, help_text="Null in a vendor's view.")
    shipping = MoneyField(allow_null=True, help_text="Null in a vendor's view.")
    tax = MoneyField(allow_null=True, help_text="Null in a vendor's view.")
    total = MoneyField(
        allow_null=True, help_text="subtotal + shipping + tax. Null in a vendor's view."
    )
    vendor_subtotal = serializers.SerializerMethodField()
    version = serializers.IntegerField(help_text="The ETag: one more on every change.")
    payment_due_at = serializers.DateTimeField(
        help_text="An order still unpaid then is cancelled and its stock released."
    )
    status_reason = serializers.CharField(
        help_text='Why it was cancelled or failed ("customer_request", "admin", '
        '"payment_timeout", …); "" otherwise.'
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    items = OrderItemOutputSerializer(many=True, source="visible_items")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        instance.visible_items = sorted(instance.visible_items, key=order_item_display_key)
        data: dict[str, Any] = super().to_representation(instance)
        if self.vendor_view:
            # A vendor sees its own lines only; the order's totals include other vendors'.
            data.update(dict.fromkeys(_TOTALS))
        return data

    @extend_schema_field(
        {"type": "string", "nullable": True, "pattern": r"^-?\d+\.\d{2}$", "example": "25.00"}
    )
    def get_vendor_subtotal(self, order: Order) -> str | None:
        """In a vendor's view, the sum of its own lines; null otherwise."""
        if not self.vendor_view:
            return None
        items: Sequence[OrderItem] = order.visible_items  # type: ignore[attr-defined]
        return from_minor(sum(item.line_total for item in items))


class VendorOrderOutputSerializer(OrderOutputSerializer):
    """An order as one of its vendors sees it: its own lines, no order totals."""

    vendor_view = True


class PlacedOrderOutputSerializer(OrderOutputSerializer):
    """The new order; a guest's ``access_token`` appears here only."""

    access_token = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "nullable": True})
    def get_access_token(self, order: Order) -> str | None:
        """A guest's key to its order (``?token=`` or ``Order-Token``); null for a
        customer's order, and in an ``Idempotency-Key`` replay (it is also in the order
        email)."""
        token: str | None = self.context.get("access_token")
        return token


def order_with_items(order: Order, items: Sequence[OrderItem]) -> Order:
    """``order`` carrying the lines its reader may see, for the output serializers."""
    order.visible_items = list(items)  # type: ignore[attr-defined]
    return order
