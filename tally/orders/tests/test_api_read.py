"""``GET orders/`` and ``GET orders/{id}/``: who sees which orders and which of their lines;
guest tokens; the admin's filters; cursor pages."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import pytest
from rest_framework.test import APIClient

from tally.catalog.models import Variant
from tally.catalog.testing import service_make, variant_make
from tally.identity.models import CustomerProfile, VendorProfile
from tally.identity.tests.factories import CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.orders.models import Order, OrderStatus
from tally.orders.services import PlacedOrder
from tally.orders.testing import order_expected_body, order_place_body, order_place_for_test

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"


def detail_url(order: Order) -> str:
    return f"{URL}{order.pk}/"


def client_of(profile: CustomerProfile | VendorProfile) -> APIClient:
    return authenticate(APIClient(), profile.user)


def variant_of(vendor: VendorProfile, **fields: Any) -> Variant:
    return variant_make(service=service_make(vendor=vendor), **fields)


def numbers(response: Any) -> list[str]:
    return [order["number"] for order in response.json()["results"]]


# --- guests -------------------------------------------------------------------------------


def test_a_guest_reads_its_order_with_its_token_and_nothing_else_does(
    api_client: APIClient,
) -> None:
    # given: two guests' orders, placed through the API
    variant = variant_make(price=9_99, stock=10)
    first = api_client.post(URL, order_place_body([(variant, 1)]), format="json").json()
    second = api_client.post(
        URL, order_place_body([(variant, 2)], email="other@example.com"), format="json"
    ).json()
    order = Order.objects.get(pk=first["id"])
    other = Order.objects.get(pk=second["id"])
    token, other_token = first["access_token"], second["access_token"]

    # when: its token, in the query or the header
    by_query = api_client.get(detail_url(order), {"token": token})
    by_header = api_client.get(detail_url(order), HTTP_ORDER_TOKEN=token)
    # then: the order, with its ETag
    for response in (by_query, by_header):
        assert response.status_code == 200
        assert response.json() == order_expected_body(order)
        assert response["ETag"] == '"1"'

    # then: no token, another order's token, a made-up one: 404 alike, nothing leaks
    refusals = {
        "no token": api_client.get(detail_url(order)),
        "another guest's token": api_client.get(detail_url(order), {"token": other_token}),
        "A's token on B": api_client.get(detail_url(other), {"token": token}),
        "a made-up token": api_client.get(detail_url(order), {"token": "x" * 43}),
        "a huge token": api_client.get(detail_url(order), HTTP_ORDER_TOKEN="x" * 5000),
        "no such order": api_client.get(
            f"{URL}00000000-0000-0000-0000-000000000000/", {"token": token}
        ),
    }
    for name, response in refusals.items():
        assert response.status_code == 404, name
        assert response.json()["code"] == "not_found", name
        assert response["Content-Type"] == "application/problem+json", name
        assert not response.has_header("ETag"), name

    # then: the token opens the order for a signed-in caller too (a guest who signed up)
    customer = cast(CustomerProfile, CustomerFactory())
    assert client_of(customer).get(detail_url(order), {"token": token}).status_code == 200
    # and a guest cannot list orders: it has no account
    assert api_client.get(URL, {"token": token}).status_code == 401


def test_a_malformed_order_id_is_a_404(api_client: APIClient) -> None:
    response = api_client.get(f"{URL}not-a-uuid/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- customers ----------------------------------------------------------------------------


def test_a_customer_sees_its_own_orders_and_no_one_elses() -> None:
    # given: two orders of one customer, one of another, one guest order
    variant = variant_make(stock=None)
    buyer = cast(CustomerProfile, CustomerFactory())
    other = cast(CustomerProfile, CustomerFactory())
    older = order_place_for_test(customer=buyer, lines=[(variant, 1)]).order
    newer = order_place_for_test(customer=buyer, lines=[(variant, 2)]).order
    others = order_place_for_test(customer=other, lines=[(variant, 1)]).order
    order_place_for_test(lines=[(variant, 1)])
    client = client_of(buyer)
    # when
    listing = client.get(URL)
    own = client.get(detail_url(older))
    foreign = client.get(detail_url(others))
    # then: its own, newest first, exactly as the detail shows them
    assert listing.status_code == 200
    assert listing.json() == {
        "results": [order_expected_body(newer), order_expected_body(older)],
        "next": None,
        "previous": None,
    }
    assert own.status_code == 200
    assert own.json() == order_expected_body(older)
    assert own["ETag"] == '"1"'
    # another customer's order does not exist for it
    assert foreign.status_code == 404
    assert foreign.json()["code"] == "not_found"
    assert client_of(other).get(URL).json()["results"] == [order_expected_body(others)]


# --- vendors ------------------------------------------------------------------------------


def test_a_vendor_sees_the_orders_holding_its_lines_and_only_its_lines() -> None:
    # given: one order with lines of two vendors, one order of the second vendor only
    alpha = cast(VendorProfile, VendorFactory())
    beta = cast(VendorProfile, VendorFactory())
    outsider = cast(VendorProfile, VendorFactory())
    alpha_tier = variant_of(alpha, price=10_00, stock=5)
    alpha_extra = variant_of(alpha, price=2_50, stock=None)
    beta_tier = variant_of(beta, price=99_00, stock=5)
    shared = order_place_for_test(lines=[(alpha_tier, 2), (alpha_extra, 1), (beta_tier, 1)]).order
    beta_only = order_place_for_test(lines=[(beta_tier, 1)]).order
    # when
    alpha_list = client_of(alpha).get(URL)
    alpha_detail = client_of(alpha).get(detail_url(shared))
    beta_list = client_of(beta).get(URL)
    # then: alpha sees the shared order with its two lines, no order totals
    expected = order_expected_body(shared, vendor=alpha)
    assert alpha_list.status_code == 200
    assert alpha_list.json()["results"] == [expected]
    assert alpha_detail.status_code == 200
    assert alpha_detail.json() == expected
    assert alpha_detail["ETag"] == '"1"'
    assert {item["variant_id"] for item in expected["items"]} == {
        str(alpha_tier.pk),
        str(alpha_extra.pk),
    }
    assert (expected["subtotal"], expected["total"], expected["vendor_subtotal"]) == (
        None,
        None,
        "22.50",
    )
    # beta sees both orders, each with beta's line only
    assert beta_list.json()["results"] == [
        order_expected_body(beta_only, vendor=beta),
        order_expected_body(shared, vendor=beta),
    ]
    assert [item["sku"] for item in beta_list.json()["results"][1]["items"]] == [beta_tier.sku]
    # a vendor without lines in it: 404, and an empty list
    assert client_of(outsider).get(detail_url(shared)).status_code == 404
    assert client_of(outsider).get(URL).json()["results"] == []


def test_an_inactive_vendors_service_cannot_be_ordered(api_client: APIClient) -> None:
    # given: a vendor deactivated after it listed its service
    vendor = cast(VendorProfile, VendorFactory())
    variant = variant_of(vendor, stock=4)
    vendor.is_active = False
    vendor.save(update_fields=["is_active"])
    # when
    response = api_client.post(URL, order_place_body([(variant, 1)]), format="json")
    # then
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["variant_id"]) == (
        "vendor_inactive",
        str(variant.pk),
    )
    variant.refresh_from_db()
    assert (Order.objects.count(), variant.stock) == (0, 4)


# --- admins: filters and pages ----------------------------------------------------------


def _placed_at(placed: PlacedOrder, moment: datetime) -> Order:
    Order.objects.filter(pk=placed.order.pk).update(created_at=moment)
    placed.order.refresh_from_db()
    return placed.order


def test_an_admin_sees_every_order_and_filters_by_status_and_date(
    admin_client: APIClient,
) -> None:
    # given: orders on three days; the middle one cancelled
    variant = variant_make(stock=None)
    customer = cast(CustomerProfile, CustomerFactory())
    day = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = _placed_at(order_place_for_test(lines=[(variant, 1)]), day)
    second = _placed_at(
        order_place_for_test(customer=customer, lines=[(variant, 1)]), day + timedelta(days=1)
    )
    third = _placed_at(order_place_for_test(lines=[(variant, 1)]), day + timedelta(days=2))
    Order.objects.filter(pk=second.pk).update(status=OrderStatus.CANCELLED)
    # when / then: everything, newest first, with every line and the totals
    everything = admin_client.get(URL)
    assert everything.status_code == 200
    assert everything.json()["results"] == [
        order_expected_body(third),
        order_expected_body(second),
        order_expected_body(first),
    ]
    # by status
    assert numbers(admin_client.get(URL, {"status": "cancelled"})) == [second.number]
    assert numbers(admin_client.get(URL, {"status": "pending"})) == [third.number, first.number]
    assert numbers(admin_client.get(URL, {"status": "refunded"})) == []
    # by date: created_after inclusive, created_before exclusive
    assert numbers(admin_client.get(URL, {"created_after": "2026-03-02T12:00:00Z"})) == [
        third.number,
        second.number,
    ]
    assert numbers(admin_client.get(URL, {"created_before": "2026-03-02T12:00:00Z"})) == [
        first.number
    ]
    assert numbers(
        admin_client.get(
            URL,
            {
                "created_after": "2026-03-01T12:00:01Z",
                "created_before": "2026-03-03T00:00:00+00:00",
                "status": "cancelled",
            },
        )
    ) == [second.number]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-01"}, "created_before"),
        (
            {"created_after": "2026-03-02T00:00:00Z", "created_before": "2026-03-01T00:00:00Z"},
            "created_before",
        ),
        ({"page_size": "0"}, None),
    ],
)
def test_bad_filters_are_a_400(
    query: dict[str, str], field: str | None, admin_client: APIClient
) -> None:
    response = admin_client.get(URL, query)
    if field is None:
        # DRF falls back to the default page size for a page size it cannot use.
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_orders_come_in_cursor_pages_newest_first(admin_client: APIClient) -> None:
    # given: five orders, a second apart
    variant = variant_make(stock=None)
    start = datetime(2026, 4, 1, tzinfo=UTC)
    orders = [
        _placed_at(order_place_for_test(lines=[(variant, 1)]), start + timedelta(seconds=index))
        for index in range(5)
    ]
    newest_first = [order.number for order in reversed(orders)]
    # when
    first = admin_client.get(URL, {"page_size": 3})
    second = admin_client.get(first.json()["next"])
    back = admin_client.get(second.json()["previous"])
    # then: two pages, nothing twice, nothing missing; previous leads back
    assert numbers(first) == newest_first[:3]
    assert numbers(second) == newest_first[3:]
    assert first.json()["previous"] is None
    assert second.json()["next"] is None
    assert numbers(back) == newest_first[:3]
    # an order placed meanwhile does not shift the next page
    order_place_for_test(lines=[(variant, 1)])
    assert numbers(admin_client.get(first.json()["next"])) == newest_first[3:]


def test_orders_placed_at_the_same_instant_are_paged_once_each(admin_client: APIClient) -> None:
    # given: seven orders with one creation time
    variant = variant_make(stock=None)
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    orders = [_placed_at(order_place_for_test(lines=[(variant, 1)]), moment) for _ in range(7)]
    # when: pages of two, to the end
    pages, response = [], admin_client.get(URL, {"page_size": 2})
    while True:
        pages.append(numbers(response))
        if response.json()["next"] is None:
            break
        response = admin_client.get(response.json()["next"])
    # then: every order exactly once, by id among equals
    seen = [number for page in pages for number in page]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert seen == [order.number for order in sorted(orders, key=lambda o: o.pk, reverse=True)]


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        _cursor("o=not-a-number"),
        _cursor("p=not-a-date"),
        _cursor("r=1&p=2026-99-99"),
    ],
)
def test_a_forged_cursor_is_a_400(cursor: str, admin_client: APIClient) -> None:
    # given
    order_place_for_test(lines=[(variant_make(stock=None), 1)])
    # when
    response = admin_client.get(URL, {"cursor": cursor})
    # then
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert [error["field"] for error in response.json()["errors"]] == ["cursor"]


def test_the_next_link_keeps_the_filters(admin_client: APIClient) -> None:
    variant = variant_make(stock=None)
    for _ in range(3):
        order_place_for_test(lines=[(variant, 1)])
    page = admin_client.get(URL, {"status": "pending", "page_size": 2})
    assert parse_qs(urlparse(page.json()["next"]).query)["status"] == ["pending"]
    assert len(admin_client.get(page.json()["next"]).json()["results"]) == 1
