"""GET services/: who sees what, filters, full-text search, orderings and cursor pages."""

from __future__ import annotations

from base64 import b64encode
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tally.catalog.models import Service
from tally.catalog.testing import service_make, variant_make
from tally.catalog.tests.bodies import service_body
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/services/"


def on_sale(price: int = 5000, *, stock: int | None = None, **fields: Any) -> Service:
    """A service on sale with one active variant at ``price``."""
    service = service_make(**fields)
    variant_make(service=service, price=price, stock=stock)
    return service


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["results"]]


def walk(client: APIClient, query: str, *, page_size: int) -> list[list[str]]:
    """Every page of the list, following ``next``."""
    pages: list[list[str]] = []
    url: str | None = f"{SERVICES}?{query}&page_size={page_size}"
    while url is not None:
        response = client.get(url)
        pages.append(ids(response))
        url = response.json()["next"]
    return pages


def cursor_with(position: str) -> str:
    return b64encode(urlencode({"p": position}).encode()).decode()


# --- who sees what -------------------------------------------------------------------------


def test_the_public_catalog_lists_services_on_sale_newest_first(api_client: APIClient) -> None:
    # given
    old = on_sale(title="Old", created_at=timezone.now() - timedelta(days=2))
    new = on_sale(title="New")
    service_make(title="No variant")
    hidden = on_sale(title="Inactive")
    Service.objects.filter(pk=hidden.pk).update(is_active=False)
    retired = service_make(title="Only a retired variant")
    variant_make(service=retired, is_active=False)
    on_sale(title="Inactive vendor", vendor=VendorFactory(inactive=True))
    # when
    response = api_client.get(SERVICES)
    # then
    assert response.status_code == 200
    assert response.json() == {
        "results": [service_body(new), service_body(old)],
        "next": None,
        "previous": None,
    }


def test_a_listed_service_shows_its_active_variants_only(api_client: APIClient) -> None:
    # given
    service = on_sale(price=3000)
    variant_make(service=service, price=10, is_active=False)
    # when
    item = api_client.get(SERVICES).json()["results"][0]
    # then
    assert item == service_body(service)
    assert (item["min_price"], len(item["variants"])) == ("30.00", 1)


def test_a_vendor_lists_its_own_services_in_any_state_with_mine(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # given
    listed = on_sale(vendor=vendor)
    draft = service_make(vendor=vendor, title="Draft")
    retired = on_sale(vendor=vendor, is_active=False)
    variant_make(service=retired, is_active=False, price=1)
    on_sale(title="Someone else's")
    # when
    response = vendor_client.get(f"{SERVICES}?mine=true")
    # then
    assert response.json()["results"] == [
        service_body(s, every_variant=True) for s in (retired, draft, listed)
    ]


def test_an_inactive_vendor_still_reads_its_own_services(
    inactive_vendor_client: APIClient, inactive_vendor: VendorProfile
) -> None:
    own = on_sale(vendor=inactive_vendor)
    assert ids(inactive_vendor_client.get(f"{SERVICES}?mine=true")) == [str(own.pk)]
    assert ids(inactive_vendor_client.get(SERVICES)) == []


@pytest.mark.parametrize(
    ("client_name", "expected", "code"),
    [
        ("customer_client", 403, "permission_denied"),
        ("partner_client", 403, "permission_denied"),
        ("admin_client", 403, "permission_denied"),
        ("api_client", 401, "not_authenticated"),
    ],
)
def test_mine_is_for_vendors(client_name: str, expected: int, code: str, request: Any) -> None:
    response = request.getfixturevalue(client_name).get(f"{SERVICES}?mine=true")
    assert (response.status_code, response.json()["code"]) == (expected, code)


def test_admins_see_every_service_and_filter_by_state(admin_client: APIClient) -> None:
    # given
    listed = on_sale()
    draft = service_make(title="Draft")
    retired = on_sale(is_active=False)
    # when
    everything = admin_client.get(SERVICES)
    inactive = admin_client.get(f"{SERVICES}?is_active=false")
    # then
    assert everything.json()["results"] == [
        service_body(s, every_variant=True) for s in (retired, draft, listed)
    ]
    assert ids(inactive) == [str(retired.pk)]


# --- filters -----------------------------------------------------------------------------


def test_filter_by_category_and_vendor(api_client: APIClient, vendor: VendorProfile) -> None:
    # given
    engines = on_sale(vendor=vendor, category="engines")
    brakes = on_sale(vendor=vendor, category="brakes")
    other_brakes = on_sale(category="brakes")
    # when / then
    assert ids(api_client.get(f"{SERVICES}?category=engines")) == [str(engines.pk)]
    assert ids(api_client.get(f"{SERVICES}?vendor={vendor.pk}")) == [
        str(brakes.pk),
        str(engines.pk),
    ]
    assert ids(api_client.get(f"{SERVICES}?category=brakes&vendor={vendor.pk}")) == [str(brakes.pk)]
    assert str(other_brakes.pk) in ids(api_client.get(f"{SERVICES}?category=brakes"))


def test_price_filters_use_the_cheapest_active_variant(api_client: APIClient) -> None:
    # given: prices of the cheapest active variant: 10.00, 25.00, 40.00
    cheap = on_sale(price=1000)
    middle = on_sale(price=2500)
    variant_make(service=middle, price=100, is_active=False)  # not for sale: ignored
    variant_make(service=middle, price=9000)
    dear = on_sale(price=4000)
    # when / then
    assert set(ids(api_client.get(f"{SERVICES}?min_price=25.00"))) == {
        str(middle.pk),
        str(dear.pk),
    }
    assert set(ids(api_client.get(f"{SERVICES}?max_price=25"))) == {
        str(cheap.pk),
        str(middle.pk),
    }
    assert ids(api_client.get(f"{SERVICES}?min_price=10.01&max_price=39.99")) == [str(middle.pk)]
    assert api_client.get(f"{SERVICES}?min_price=0").status_code == 200


def test_in_stock_keeps_services_with_a_variant_left(api_client: APIClient) -> None:
    # given
    sold_out = on_sale(stock=0)
    limited = on_sale(stock=2)
    unlimited = on_sale(stock=None)
    mixed = on_sale(stock=0)
    variant_make(service=mixed, stock=0)
    variant_make(service=mixed, stock=3, is_active=False)  # not for sale: ignored
    # when
    response = api_client.get(f"{SERVICES}?in_stock=true")
    # then
    assert set(ids(response)) == {str(limited.pk), str(unlimited.pk)}
    every = {item["id"]: item["in_stock"] for item in api_client.get(SERVICES).json()["results"]}
    assert every == {
        str(sold_out.pk): False,
        str(limited.pk): True,
        str(unlimited.pk): True,
        str(mixed.pk): False,
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("ordering=cheapest", "ordering"),
        ("min_price=abc", "min_price"),
        ("min_price=-1", "min_price"),
        ("max_price=1.001", "max_price"),
        ("min_price=50&max_price=10", "max_price"),
        ("vendor=not-a-uuid", "vendor"),
        ("category=Car%20Repair", "category"),
        ("in_stock=perhaps", "in_stock"),
        ("search=" + "x" * 201, "search"),
    ],
)
def test_bad_parameters_are_a_validation_error(
    api_client: APIClient, query: str, field: str
) -> None:
    # when
    response = api_client.get(f"{SERVICES}?{query}")
    # then
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == [field]


# --- full-text search ------------------------------------------------------------------------


def test_search_is_full_text_with_stemming(api_client: APIClient) -> None:
    # given
    repair = on_sale(title="Engine Repair", description="We fix engines.")
    on_sale(title="Car wash", description="Foam and wax.")
    # when / then: "repairs" and "repairing" stem to "repair"; "engine" matches "engines"
    assert ids(api_client.get(f"{SERVICES}?search=repairs")) == [str(repair.pk)]
    assert ids(api_client.get(f"{SERVICES}?search=repairing")) == [str(repair.pk)]
    assert ids(api_client.get(f"{SERVICES}?search=ENGINE")) == [str(repair.pk)]
    assert ids(api_client.get(f"{SERVICES}?search=pair")) == []  # not a substring match


def test_search_ranks_title_matches_above_description_matches(api_client: APIClient) -> None:
    # given: the newer one mentions brakes only in its description
    in_title = on_sale(
        title="Brake service", description="Pads.", created_at=timezone.now() - timedelta(days=1)
    )
    in_description = on_sale(title="Full check", description="Oil, tyres and brakes.")
    # when
    response = api_client.get(f"{SERVICES}?search=brakes")
    # then
    assert ids(response) == [str(in_title.pk), str(in_description.pk)]


def test_search_takes_web_search_syntax(api_client: APIClient) -> None:
    # given
    engine = on_sale(title="Engine repair")
    gearbox = on_sale(title="Gearbox repair")
    # when / then
    assert ids(api_client.get(f"{SERVICES}?search=repair%20-gearbox")) == [str(engine.pk)]
    assert set(ids(api_client.get(f"{SERVICES}?search=engine%20or%20gearbox"))) == {
        str(engine.pk),
        str(gearbox.pk),
    }
    assert ids(api_client.get(f"{SERVICES}?search=%22gearbox%20repair%22")) == [str(gearbox.pk)]


def test_search_combines_with_filters_and_ordering(api_client: APIClient) -> None:
    # given
    cheap = on_sale(price=1000, title="Quick repair", category="engines")
    dear = on_sale(price=9000, title="Full repair", category="engines")
    on_sale(price=500, title="Cheap repair", category="brakes")
    # when
    response = api_client.get(f"{SERVICES}?search=repair&category=engines&ordering=-price")
    # then
    assert ids(response) == [str(dear.pk), str(cheap.pk)]


@pytest.mark.parametrize("search", ["", "   ", "the", "%27%3B--", "!!!", "a%26b|c"])
def test_odd_searches_never_fail(api_client: APIClient, search: str) -> None:
    on_sale(title="Engine repair")
    assert api_client.get(f"{SERVICES}?search={search}").status_code == 200


def test_a_blank_search_filters_nothing(api_client: APIClient) -> None:
    service = on_sale()
    assert ids(api_client.get(f"{SERVICES}?search=%20")) == [str(service.pk)]


# --- ordering and cursor pages ---------------------------------------------------------------


def test_orderings(api_client: APIClient) -> None:
    # given
    now = timezone.now()
    b = on_sale(price=3000, title="banana", created_at=now - timedelta(hours=1))
    a = on_sale(price=1000, title="Apple", created_at=now - timedelta(hours=2))
    c = on_sale(price=2000, title="cherry", created_at=now)
    # when / then
    expected = {
        "-created_at": [c, b, a],
        "created_at": [a, b, c],
        "price": [a, c, b],
        "-price": [b, c, a],
        "title": [a, b, c],
    }
    for ordering, services in expected.items():
        response = api_client.get(f"{SERVICES}?ordering={ordering}")
        assert ids(response) == [str(s.pk) for s in services], ordering


@pytest.mark.parametrize("ordering", ["-created_at", "created_at", "price", "-price", "title"])
def test_cursor_pages_never_repeat_or_skip_even_with_ties(
    api_client: APIClient, ordering: str
) -> None:
    # given: 7 services sharing prices, titles and creation times
    moment = timezone.now()
    services = [
        on_sale(price=1000 if n % 2 else 2000, title="Same title", created_at=moment)
        for n in range(7)
    ]
    # when
    pages = walk(api_client, f"ordering={ordering}", page_size=3)
    # then
    assert [len(page) for page in pages] == [3, 3, 1]
    seen = [service_id for page in pages for service_id in page]
    assert sorted(seen) == sorted(str(s.pk) for s in services)
    assert seen == ids(api_client.get(f"{SERVICES}?ordering={ordering}"))


def test_previous_goes_back_to_the_same_page(api_client: APIClient) -> None:
    # given
    for n in range(5):
        on_sale(price=1000 + n)
    first = api_client.get(f"{SERVICES}?ordering=price&page_size=2")
    second = api_client.get(first.json()["next"])
    # when
    back = api_client.get(second.json()["previous"])
    # then
    assert ids(back) == ids(first)


def test_search_results_page_by_relevance(api_client: APIClient) -> None:
    # given
    for n in range(5):
        on_sale(title=f"Repair {n}", description="repair " * n)
    # when
    pages = walk(api_client, "search=repair", page_size=2)
    # then
    seen = [service_id for page in pages for service_id in page]
    assert len(seen) == len(set(seen)) == 5
    assert seen == ids(api_client.get(f"{SERVICES}?search=repair"))


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        cursor_with("not-a-position"),
        cursor_with("x" * 19 + "00000000-0000-0000-0000-000000000000"),
        cursor_with("2026' OR 1=1 --"),
    ],
)
def test_a_forged_cursor_is_a_validation_error(api_client: APIClient, cursor: str) -> None:
    on_sale()
    response = api_client.get(f"{SERVICES}?cursor={cursor}")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert [error["field"] for error in response.json()["errors"]] == ["cursor"]


def test_a_cursor_from_another_ordering_is_refused(api_client: APIClient) -> None:
    # given
    for n in range(3):
        on_sale(price=1000 + n)
    next_url = api_client.get(f"{SERVICES}?ordering=price&page_size=1").json()["next"]
    cursor = parse_qs(urlparse(next_url).query)["cursor"][0]
    # when
    response = api_client.get(f"{SERVICES}?ordering=title&cursor={cursor}")
    # then
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


# --- cost ------------------------------------------------------------------------------------


def test_a_page_costs_the_same_number_of_queries_whatever_its_size(
    api_client: APIClient, django_assert_max_num_queries: Any
) -> None:
    # given: services with several variants each
    for _ in range(2):
        service = on_sale()
        variant_make(service=service)
    with django_assert_max_num_queries(2) as small:
        api_client.get(SERVICES)
    for _ in range(10):
        service = on_sale()
        variant_make(service=service)
        variant_make(service=service)
    # when / then: one query for the page, one for all its variants
    with django_assert_max_num_queries(2) as large:
        response = api_client.get(SERVICES)
    assert len(response.json()["results"]) == 12
    assert len(large.captured_queries) == len(small.captured_queries)


def test_title_pages_carry_any_characters_in_their_cursor(api_client: APIClient) -> None:
    # given
    titles = ["Café & Co", "zürich=1", "A+B/C?d", "Ωmega repairs", "  spaced  out", "#1 garage"]
    services = [on_sale(title=title) for title in titles]
    # when
    pages = walk(api_client, "ordering=title", page_size=1)
    # then
    seen = [service_id for page in pages for service_id in page]
    assert sorted(seen) == sorted(str(s.pk) for s in services)
    assert seen == ids(api_client.get(f"{SERVICES}?ordering=title"))
