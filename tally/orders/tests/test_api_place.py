"""``POST orders/``: customers and guests place orders; every bad input is a clear problem
with its own code and reserves nothing; an Idempotency-Key replay places nothing twice."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tally.catalog.models import Variant
from tally.catalog.stock_counter import stock_counter_peek
from tally.catalog.testing import service_make, variant_make
from tally.identity.models import CustomerProfile
from tally.identity.tests.factories import CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.notifications.models import Notification
from tally.orders.models import Order, OrderItem
from tally.orders.selectors import order_token_hash
from tally.orders.testing import (
    GUEST_EMAIL,
    GUEST_NAME,
    SHIPPING_ADDRESS,
    order_expected_body,
    order_place_body,
)
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"


def rows() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "items": OrderItem.objects.count(),
        "audit": AuditEvent.objects.filter(action__startswith="order.").count(),
        "notifications": Notification.objects.count(),
    }


def stock_of(variant: Variant) -> int | None:
    variant.refresh_from_db()
    return variant.stock


# --- placing ------------------------------------------------------------------------------


def test_a_guest_places_an_order_without_an_account(api_client: APIClient) -> None:
    # given: a limited variant and an unlimited one of two vendors
    engine = variant_make(price=12_50, stock=5, name="Basic", sku="ENG-1")
    wash = variant_make(
        service=service_make(title="Car wash", category="car-care"), price=7_00, stock=None
    )
    # when
    response = api_client.post(URL, order_place_body([(engine, 2), (wash, 1)]), format="json")
    # then: 201 with the order, its ETag and Location, and the guest's token
    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    body = response.json()
    token = body.pop("access_token")
    assert body == order_expected_body(order)
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"/api/v1/orders/{order.pk}/"
    # The access token is shown once: no cache may keep the answer.
    assert response["Cache-Control"] == "no-store"
    assert (body["status"], body["customer_id"], body["email"], body["name"]) == (
        "pending",
        None,
        GUEST_EMAIL,
        GUEST_NAME,
    )
    assert (body["subtotal"], body["shipping"], body["tax"], body["total"]) == (
        "32.00",
        "0.00",
        "0.00",
        "32.00",
    )
    assert body["shipping_address"] == SHIPPING_ADDRESS
    assert sorted(
        (item["sku"], item["quantity"], item["line_total"]) for item in body["items"]
    ) == [
        ("ENG-1", 2, "25.00"),
        (wash.sku, 1, "7.00"),
    ]
    # the token is shown once and stored only as its hash
    assert isinstance(token, str)
    assert len(token) >= 40
    assert order.access_token_hash == order_token_hash(token)
    # the limited variant's units are reserved; the unlimited one stays unlimited
    assert (stock_of(engine), stock_of(wash)) == (3, None)
    # the audit row and the buyer's email
    assert AuditEvent.objects.filter(action="order.placed", target_id=str(order.pk)).count() == 1
    notification = Notification.objects.get()
    assert (notification.kind, notification.user_id) == ("order_placed", None)
    # the token opens the order, nothing else does
    assert api_client.get(f"{URL}{order.pk}/", {"token": token}).status_code == 200
    assert api_client.get(f"{URL}{order.pk}/").status_code == 404


def test_a_customer_places_an_order_under_its_account(api_client: APIClient) -> None:
    # given
    customer = cast(CustomerProfile, CustomerFactory(user__full_name="Ada Buyer"))
    variant = variant_make(price=20_00, stock=3)
    client = authenticate(api_client, customer.user)
    # when: no contact details given
    body = order_place_body([(variant, 1)], email=None, name=None)
    response = client.post(URL, body, format="json")
    # then: the account's details, no token
    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert response.json() == {**order_expected_body(order), "access_token": None}
    assert (order.customer_id, order.email, order.name, order.phone, order.access_token_hash) == (
        customer.pk,
        customer.user.email,
        "Ada Buyer",
        customer.phone,
        "",
    )
    assert stock_of(variant) == 2
    assert Notification.objects.get().user_id == customer.user_id


@override_settings(ORDER_SHIPPING_FEE="4.99", ORDER_TAX_RATE_PERCENT="7.5")
def test_totals_come_from_the_catalog_prices_not_the_client(api_client: APIClient) -> None:
    # given
    variant = variant_make(price=10_01, stock=None)
    body = order_place_body([(variant, 3)])
    body["items"][0]["unit_price"] = "0.01"
    body["total"] = "0.01"
    # when
    response = api_client.post(URL, body, format="json")
    # then: 30.03 + 4.99 + 7.5% of 30.03 (2.25225, half up: 2.25)
    assert response.status_code == 201, response.json()
    assert {key: response.json()[key] for key in ("subtotal", "shipping", "tax", "total")} == {
        "subtotal": "30.03",
        "shipping": "4.99",
        "tax": "2.25",
        "total": "37.27",
    }
    assert response.json()["items"][0]["unit_price"] == "10.01"


def test_a_guest_phone_is_stored_in_e164(api_client: APIClient) -> None:
    variant = variant_make(stock=None)
    response = api_client.post(
        URL, order_place_body([(variant, 1)], phone="+1 (415) 555-0123"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["phone"] == "+14155550123"


@pytest.mark.parametrize("role", ["vendor", "admin", "partner"])
def test_only_customers_and_guests_place_orders(role: str, request: pytest.FixtureRequest) -> None:
    # given
    client: APIClient = request.getfixturevalue(f"{role}_client")
    variant = variant_make(stock=5)
    before = rows()
    # when
    response = client.post(URL, order_place_body([(variant, 1)]), format="json")
    # then
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"
    assert rows() == before
    assert stock_of(variant) == 5


# --- bad input ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    """A checkout body built around ``variant`` (5 units left); the refusal expected."""

    body: Callable[[Variant], Any]
    status: int
    code: str
    field: str | None = None


def _with_line(**line: Any) -> Callable[[Variant], Any]:
    return lambda variant: (
        order_place_body([(variant, 1)])
        | {"items": [{"variant_id": str(variant.pk), "quantity": 1} | line]}
    )


def _with_address(**fields: Any) -> Callable[[Variant], Any]:
    def body(variant: Variant) -> Any:
        address: dict[str, Any] = {**SHIPPING_ADDRESS, **fields}
        return order_place_body(
            [(variant, 1)],
            shipping_address={key: value for key, value in address.items() if value is not None},
        )

    return body


def _second_line(make: Callable[[], Variant]) -> Callable[[Variant], Any]:
    """Two units of ``variant`` (reservable) and one of what ``make`` builds."""
    return lambda variant: order_place_body([(variant, 2), (make(), 1)])


def _other_vendor_inactive() -> Variant:
    return variant_make(service=service_make(vendor=VendorFactory(inactive=True)))


BAD_INPUTS = {
    "unknown variant": BadInput(
        lambda variant: (
            order_place_body([(variant, 2)])
            | {
                "items": [
                    {"variant_id": str(variant.pk), "quantity": 2},
                    {"variant_id": str(uuid.uuid4()), "quantity": 1},
                ]
            }
        ),
        422,
        "unknown_variant",
    ),
    "inactive variant": BadInput(
        _second_line(lambda: variant_make(is_active=False)), 422, "variant_unavailable"
    ),
    "inactive service": BadInput(
        _second_line(lambda: variant_make(service=service_make(is_active=False))),
        422,
        "variant_unavailable",
    ),
    "another currency's variant": BadInput(
        _second_line(lambda: variant_make(currency="EUR")), 422, "currency_mismatch"
    ),
    "an order in another currency": BadInput(
        lambda variant: order_place_body([(variant, 1)], currency="EUR"), 422, "currency_mismatch"
    ),
    "inactive vendor's service": BadInput(
        _second_line(_other_vendor_inactive), 422, "vendor_inactive"
    ),
    "more units than left": BadInput(
        lambda variant: order_place_body([(variant, 6)]), 422, "out_of_stock"
    ),
    "a sold-out second line": BadInput(
        _second_line(lambda: variant_make(stock=0)), 422, "out_of_stock"
    ),
    "quantity 0": BadInput(_with_line(quantity=0), 400, "validation_error", "items.0.quantity"),
    "negative quantity": BadInput(
        _with_line(quantity=-3), 400, "validation_error", "items.0.quantity"
    ),
    "quantity above the maximum": BadInput(
        _with_line(quantity=101), 400, "validation_error", "items.0.quantity"
    ),
    "fractional quantity": BadInput(
        _with_line(quantity=1.5), 400, "validation_error", "items.0.quantity"
    ),
    "boolean quantity": BadInput(
        _with_line(quantity=True), 400, "validation_error", "items.0.quantity"
    ),
    "missing quantity": BadInput(
        lambda variant: (
            order_place_body([(variant, 1)]) | {"items": [{"variant_id": str(variant.pk)}]}
        ),
        400,
        "validation_error",
        "items.0.quantity",
    ),
    "one variant twice above the maximum": BadInput(
        lambda variant: order_place_body([(variant, 60), (variant, 41)]),
        400,
        "quantity_above_limit",
    ),
    "more lines than allowed": BadInput(
        lambda variant: order_place_body([(variant, 1)] * 51), 400, "validation_error", "items"
    ),
    "no lines": BadInput(lambda variant: order_place_body([]), 400, "validation_error", "items"),
    "items missing": BadInput(
        lambda variant: order_place_body([], items=None), 400, "validation_error", "items"
    ),
    "items not a list": BadInput(
        lambda variant: order_place_body([], items={"variant_id": str(variant.pk), "quantity": 1}),
        400,
        "validation_error",
        "items",
    ),
    "a line not an object": BadInput(
        lambda variant: order_place_body([], items=[str(variant.pk)]),
        400,
        "validation_error",
        "items.0",
    ),
    "non-UUID variant id": BadInput(
        _with_line(variant_id="42"), 400, "validation_error", "items.0.variant_id"
    ),
    "numeric variant id": BadInput(
        _with_line(variant_id=42), 400, "validation_error", "items.0.variant_id"
    ),
    "guest without email": BadInput(
        lambda variant: order_place_body([(variant, 1)], email=None), 400, "guest_contact_required"
    ),
    "guest without name": BadInput(
        lambda variant: order_place_body([(variant, 1)], name=""), 400, "guest_contact_required"
    ),
    "malformed email": BadInput(
        lambda variant: order_place_body([(variant, 1)], email="guest@"),
        400,
        "validation_error",
        "email",
    ),
    "malformed phone": BadInput(
        lambda variant: order_place_body([(variant, 1)], phone="12"),
        400,
        "validation_error",
        "phone",
    ),
    "lower-case currency": BadInput(
        lambda variant: order_place_body([(variant, 1)], currency="usd"),
        400,
        "validation_error",
        "currency",
    ),
    "no address": BadInput(
        lambda variant: order_place_body([(variant, 1)], shipping_address=None),
        400,
        "validation_error",
        "shipping_address",
    ),
    "address not an object": BadInput(
        lambda variant: order_place_body([(variant, 1)], shipping_address="221B Baker Street"),
        400,
        "validation_error",
        "shipping_address",
    ),
    "address without line1": BadInput(
        _with_address(line1=None), 400, "validation_error", "shipping_address.line1"
    ),
    "address line1 blank": BadInput(
        _with_address(line1="  "), 400, "validation_error", "shipping_address.line1"
    ),
    "address line1 too long": BadInput(
        _with_address(line1="x" * 201), 400, "validation_error", "shipping_address.line1"
    ),
    "address without city": BadInput(
        _with_address(city=None), 400, "validation_error", "shipping_address.city"
    ),
    "address city too long": BadInput(
        _with_address(city="x" * 101), 400, "validation_error", "shipping_address.city"
    ),
    "postal code with symbols": BadInput(
        _with_address(postal_code="NW1;DROP"),
        400,
        "validation_error",
        "shipping_address.postal_code",
    ),
    "postal code too long": BadInput(
        _with_address(postal_code="1" * 21), 400, "validation_error", "shipping_address.postal_code"
    ),
    "lower-case country": BadInput(
        _with_address(country="gb"), 400, "validation_error", "shipping_address.country"
    ),
    "unassigned country": BadInput(
        _with_address(country="XX"), 400, "validation_error", "shipping_address.country"
    ),
    "country name": BadInput(
        _with_address(country="United Kingdom"),
        400,
        "validation_error",
        "shipping_address.country",
    ),
    "address field not a string": BadInput(
        _with_address(city={"name": "London"}), 400, "validation_error", "shipping_address.city"
    ),
    "body a list": BadInput(
        lambda variant: [order_place_body([(variant, 1)])], 400, "validation_error"
    ),
    "body a string": BadInput(lambda variant: "order", 400, "validation_error"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_refused_with_its_own_code_and_reserves_nothing(
    case: BadInput, api_client: APIClient
) -> None:
    # given: a variant with 5 units, its Redis counter built by an earlier sale
    variant = variant_make(price=10_00, stock=6)
    first = api_client.post(URL, order_place_body([(variant, 1)]), format="json")
    assert first.status_code == 201
    body = case.body(variant)
    before = rows()
    counter = stock_counter_peek(variant_id=variant.pk)
    assert counter == 5
    # when
    response = api_client.post(URL, body, format="json")
    # then: a problem with its own code (and the field, for a validation error)
    assert response.status_code == case.status, response.json()
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (case.status, case.code)
    assert problem["detail"]
    if case.field is not None:
        assert case.field in [error["field"] for error in problem["errors"]], problem
    # and nothing was written or reserved, in the database or the counter
    assert rows() == before
    assert stock_of(variant) == 5
    assert stock_counter_peek(variant_id=variant.pk) == counter


@override_settings(ORDER_MAX_LINES=2, ORDER_MAX_QUANTITY=3)
def test_the_limits_come_from_the_settings(api_client: APIClient) -> None:
    # given
    variants = [variant_make(stock=None) for _ in range(3)]
    # when
    too_many_lines = api_client.post(
        URL, order_place_body([(variant, 1) for variant in variants]), format="json"
    )
    too_many_units = api_client.post(URL, order_place_body([(variants[0], 4)]), format="json")
    at_the_limits = api_client.post(
        URL, order_place_body([(variants[0], 3), (variants[1], 3)]), format="json"
    )
    # then
    assert too_many_lines.status_code == 400
    assert too_many_lines.json()["errors"] == [
        {"field": "items", "code": "max_lines", "detail": "At most 2 lines per order."}
    ]
    assert too_many_units.status_code == 400
    assert too_many_units.json()["errors"] == [
        {
            "field": "items.0.quantity",
            "code": "max_quantity",
            "detail": "At most 3 units of one variant per order.",
        }
    ]
    assert at_the_limits.status_code == 201
    assert Order.objects.count() == 1


@pytest.mark.parametrize("idempotency_key", [None, "deep-1"])
def test_a_body_nested_too_deep_is_a_400(
    idempotency_key: str | None, api_client: APIClient
) -> None:
    # given
    depth = 100_000
    raw = '{"items": ' + "[" * depth + "]" * depth + "}"
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    # when
    response = api_client.post(URL, raw, content_type="application/json", **headers)
    # then
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
    assert rows()["orders"] == 0


@pytest.mark.parametrize("idempotency_key", [None, "huge-1"])
def test_a_body_larger_than_the_server_accepts_is_a_413(
    idempotency_key: str | None, api_client: APIClient, settings: Any
) -> None:
    # given: a thousand lines in a body over the upload limit
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20_000
    line = {"variant_id": str(uuid.uuid4()), "quantity": 1}
    raw = json.dumps(order_place_body([], items=[line] * 1000))
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    # when
    response = api_client.post(URL, raw, content_type="application/json", **headers)
    # then
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert rows()["orders"] == 0


def test_a_body_that_is_not_json_is_a_400(api_client: APIClient) -> None:
    response = api_client.post(URL, '{"items": [', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


# --- idempotency and rate limits ------------------------------------------------------------


def test_an_idempotency_key_replay_returns_the_same_guest_order_and_reserves_once(
    api_client: APIClient,
) -> None:
    # given
    variant = variant_make(price=5_00, stock=4)
    body = order_place_body([(variant, 2)])
    headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
    # when: the same request twice
    first = api_client.post(URL, body, format="json", **headers)
    again = api_client.post(URL, body, format="json", **headers)
    # then: one order, two units reserved once; the replay is the same order
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert stock_of(variant) == 2
    replayed = json.loads(again.content)
    original = first.json()
    # the token is shown once: the replay has it null (the order email carries it)
    assert isinstance(original.pop("access_token"), str)
    assert replayed.pop("access_token") is None
    assert replayed == original
    assert (again["ETag"], again["Location"]) == (first["ETag"], first["Location"])

    # when: the same key with another body
    reused = api_client.post(URL, order_place_body([(variant, 1)]), format="json", **headers)
    # then: refused, nothing placed
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert (Order.objects.count(), stock_of(variant)) == (1, 2)


def test_guests_are_rate_limited_by_address_and_customers_by_account(
    api_client: APIClient, settings: Any
) -> None:
    # given: two writes a minute
    settings.TALLY_RATE_LIMITS = {**settings.TALLY_RATE_LIMITS, "write": "2/min"}
    variant = variant_make(stock=None)
    body = order_place_body([(variant, 1)])
    customer = cast(CustomerProfile, CustomerFactory()).user
    # when
    guests = [api_client.post(URL, body, format="json").status_code for _ in range(3)]
    signed_in = authenticate(APIClient(), customer).post(
        URL, order_place_body([(variant, 1)], email=None, name=None), format="json"
    )
    # then: the third guest order from this address waits; the customer has its own budget
    assert guests == [201, 201, 429]
    assert signed_in.status_code == 201
    assert Order.objects.count() == 3
