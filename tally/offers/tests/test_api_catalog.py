"""The offers catalog: public reads (cached in Redis), admin create and change (API and Django
admin), per role, with exact bodies; every refusal writes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tally.identity.models import User
from tally.offers import catalog
from tally.offers.models import Offer, OfferKind
from tally.offers.testing import offer_make
from tally.platform.audit.models import AuditEvent
from tally.platform.money import from_minor

pytestmark = pytest.mark.django_db

ROLES = ("admin", "customer", "vendor", "partner", "anonymous")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def offer_body(offer: Offer) -> dict[str, Any]:
    offer.refresh_from_db()
    return {
        "id": str(offer.pk),
        "name": offer.name,
        "kind": offer.kind,
        "description": offer.description,
        "price": from_minor(offer.price),
        "currency": offer.currency,
        "validity_days": offer.validity_days,
        "data_mb": offer.data_mb,
        "voice_minutes": offer.voice_minutes,
        "sms": offer.sms,
        "tv_channels": offer.tv_channels,
        "is_active": offer.is_active,
        "created_at": _iso(offer.created_at),
        "updated_at": _iso(offer.updated_at),
    }


def client_for(role: str, request: Any) -> APIClient:
    return APIClient() if role == "anonymous" else request.getfixturevalue(f"{role}_client")


NEW_OFFER = {
    "name": "TV Max",
    "kind": "tv",
    "description": "120 channels",
    "price": "25.50",
    "validity_days": 30,
    "tv_channels": 120,
}


# --- public reads ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["customer", "vendor", "partner", "anonymous"])
def test_everyone_but_admins_sees_the_active_catalog_by_kind_then_cheapest(
    role: str, request: Any
) -> None:
    # given
    tv = offer_make(name="TV", kind=OfferKind.TV, price=900, tv_channels=80, data_mb=None)
    big = offer_make(name="Internet 50 GB", price=2000, data_mb=51_200)
    small = offer_make(name="Internet 10 GB", price=500)
    offer_make(name="Retired", price=100, is_active=False)
    # when
    response = client_for(role, request).get("/api/v1/offers/")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "results": [offer_body(small), offer_body(big), offer_body(tv)],
        "next": None,
        "previous": None,
    }


def test_admins_see_inactive_offers_too(admin_client: APIClient) -> None:
    # given
    active = offer_make(price=500)
    retired = offer_make(name="Retired", price=100, is_active=False)
    # when
    response = admin_client.get("/api/v1/offers/")
    # then
    assert response.status_code == 200
    assert response.json()["results"] == [offer_body(retired), offer_body(active)]


def test_the_catalog_filters_by_kind(api_client: APIClient) -> None:
    # given
    offer_make(price=500)
    voice = offer_make(name="Voice 300", kind=OfferKind.VOICE, voice_minutes=300, data_mb=None)
    # when
    response = api_client.get("/api/v1/offers/?kind=voice")
    # then
    assert response.status_code == 200
    assert response.json()["results"] == [offer_body(voice)]


def test_an_unknown_kind_is_a_validation_error(api_client: APIClient) -> None:
    # when
    response = api_client.get("/api/v1/offers/?kind=radio")
    # then
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["errors"]) == (
        "validation_error",
        [
            {
                "field": "kind",
                "code": "invalid",
                "detail": "Must be one of internet, tv, voice, bundle.",
            }
        ],
    )


@pytest.mark.parametrize("role", ROLES)
def test_anyone_reads_an_active_offer(role: str, request: Any) -> None:
    # given
    offer = offer_make()
    # when
    response = client_for(role, request).get(f"/api/v1/offers/{offer.pk}/")
    # then
    assert response.status_code == 200
    assert response.json() == offer_body(offer)


@pytest.mark.parametrize(("role", "expected"), [*((r, 404) for r in ROLES[1:]), ("admin", 200)])
def test_an_inactive_offer_is_visible_to_admins_only(
    role: str, expected: int, request: Any
) -> None:
    # given
    offer = offer_make(is_active=False)
    # when
    response = client_for(role, request).get(f"/api/v1/offers/{offer.pk}/")
    # then
    assert response.status_code == expected
    if expected == 404:
        assert response.json()["code"] == "not_found"
    else:
        assert response.json() == offer_body(offer)


def test_an_unknown_offer_is_not_found(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/offers/00000000-0000-0000-0000-000000000000/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# --- admin create -----------------------------------------------------------------------


def test_an_admin_creates_an_offer_audited(admin_client: APIClient, admin_user: User) -> None:
    # when
    response = admin_client.post("/api/v1/offers/", NEW_OFFER)
    # then
    assert response.status_code == 201
    offer = Offer.objects.get()
    assert response.json() == offer_body(offer)
    assert (offer.name, offer.kind, offer.price, offer.currency, offer.tv_channels) == (
        "TV Max",
        "tv",
        2550,
        "USD",
        120,
    )
    assert (offer.data_mb, offer.voice_minutes, offer.sms, offer.is_active) == (
        None,
        None,
        None,
        True,
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.target_id) == (
        "offer.created",
        admin_user.pk,
        str(offer.pk),
    )
    assert event.changes == {
        "name": [None, "TV Max"],
        "kind": [None, "tv"],
        "price": [None, 2550],
        "currency": [None, "USD"],
        "validity_days": [None, 30],
        "is_active": [None, True],
    }


def test_an_admin_may_price_an_offer_in_another_currency(admin_client: APIClient) -> None:
    response = admin_client.post("/api/v1/offers/", {**NEW_OFFER, "currency": "EUR"})
    assert response.status_code == 201
    assert response.json()["currency"] == "EUR"
    assert Offer.objects.get().currency == "EUR"


@pytest.mark.parametrize(
    ("role", "expected"), [("customer", 403), ("vendor", 403), ("partner", 403), ("anonymous", 401)]
)
def test_only_admins_create_offers(role: str, expected: int, request: Any) -> None:
    # when
    response = client_for(role, request).post("/api/v1/offers/", NEW_OFFER)
    # then
    assert response.status_code == expected
    assert response.json()["code"] == (
        "permission_denied" if expected == 403 else "not_authenticated"
    )
    assert Offer.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "0"}, "price"),
        ({"price": "1.234"}, "price"),
        ({"validity_days": 0}, "validity_days"),
        ({"validity_days": 3651}, "validity_days"),
        ({"kind": "radio"}, "kind"),
        ({"currency": "eur"}, "currency"),
        ({"tv_channels": -1}, "tv_channels"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_offer_is_refused_and_nothing_is_written(
    admin_client: APIClient, change: dict[str, Any], field: str
) -> None:
    # when
    response = admin_client.post("/api/v1/offers/", {**NEW_OFFER, **change})
    # then
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["field"] for error in body["errors"]] == [field]
    assert Offer.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_creating_with_an_idempotency_key_twice_creates_one_offer(admin_client: APIClient) -> None:
    # given
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-tv-max"}
    first = admin_client.post("/api/v1/offers/", NEW_OFFER, **headers)
    # when
    again = admin_client.post("/api/v1/offers/", NEW_OFFER, **headers)
    # then
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Offer.objects.count() == 1
    assert AuditEvent.objects.count() == 1


# --- admin change -----------------------------------------------------------------------


def test_an_admin_changes_an_offer_and_only_real_changes_are_audited(
    admin_client: APIClient, admin_user: User
) -> None:
    # given
    offer = offer_make(price=500)
    # when
    response = admin_client.patch(
        f"/api/v1/offers/{offer.pk}/",
        {"price": "7.00", "name": "Internet 10 GB", "is_active": False},
    )
    # then
    assert response.status_code == 200
    assert response.json() == offer_body(offer)
    assert (offer.price, offer.is_active, offer.name) == (700, False, "Internet 10 GB")
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id) == ("offer.updated", admin_user.pk)
    assert event.changes == {"price": [500, 700], "is_active": [True, False]}


def test_a_change_that_changes_nothing_writes_nothing(admin_client: APIClient) -> None:
    # given
    offer = offer_make(price=500)
    before = offer_body(offer)
    # when
    response = admin_client.patch(f"/api/v1/offers/{offer.pk}/", {"price": "5.00"})
    # then
    assert response.status_code == 200
    assert response.json() == before
    assert offer_body(offer) == before
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "EUR"}, "currency"),
        ({"price": "-1"}, "price"),
        ({"validity_days": 0}, "validity_days"),
        ({"kind": None}, "kind"),
    ],
)
def test_a_bad_change_is_refused_and_nothing_changes(
    admin_client: APIClient, change: dict[str, Any], field: str
) -> None:
    # given
    offer = offer_make()
    before = offer_body(offer)
    # when
    response = admin_client.patch(f"/api/v1/offers/{offer.pk}/", change)
    # then
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert offer_body(offer) == before
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("role", "expected"), [("customer", 403), ("vendor", 403), ("partner", 403), ("anonymous", 401)]
)
def test_only_admins_change_offers(role: str, expected: int, request: Any) -> None:
    # given
    offer = offer_make()
    before = offer_body(offer)
    # when
    response = client_for(role, request).patch(f"/api/v1/offers/{offer.pk}/", {"price": "1.00"})
    # then
    assert response.status_code == expected
    assert offer_body(offer) == before
    assert AuditEvent.objects.count() == 0


def test_changing_an_unknown_offer_is_not_found(admin_client: APIClient) -> None:
    response = admin_client.patch(
        "/api/v1/offers/00000000-0000-0000-0000-000000000000/", {"price": "1.00"}
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert AuditEvent.objects.count() == 0


# --- the cache ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_public_reads_come_from_redis_until_a_change_commits(admin_client: APIClient) -> None:
    # given: the list and the detail were read once (and cached)
    offer = offer_make(price=500)
    anonymous = APIClient()
    assert anonymous.get("/api/v1/offers/").json()["results"][0]["price"] == "5.00"
    assert anonymous.get(f"/api/v1/offers/{offer.pk}/").json()["price"] == "5.00"
    # when: a write behind the services' back is not seen (the reads are cached)…
    Offer.objects.filter(pk=offer.pk).update(name="Renamed behind the cache")
    cached_list = anonymous.get("/api/v1/offers/").json()["results"]
    cached_detail = anonymous.get(f"/api/v1/offers/{offer.pk}/").json()
    # …and a change through the catalog retires both
    admin_client.patch(f"/api/v1/offers/{offer.pk}/", {"price": "6.00"})
    fresh_list = anonymous.get("/api/v1/offers/").json()["results"]
    fresh_detail = anonymous.get(f"/api/v1/offers/{offer.pk}/").json()
    # then
    assert [(o["name"], o["price"]) for o in cached_list] == [("Internet 10 GB", "5.00")]
    assert (cached_detail["name"], cached_detail["price"]) == ("Internet 10 GB", "5.00")
    assert [(o["name"], o["price"]) for o in fresh_list] == [("Renamed behind the cache", "6.00")]
    assert (fresh_detail["name"], fresh_detail["price"]) == ("Renamed behind the cache", "6.00")


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_offer_leaves_the_cached_catalog_at_once(admin_client: APIClient) -> None:
    # given
    offer = offer_make()
    anonymous = APIClient()
    assert len(anonymous.get("/api/v1/offers/?kind=internet").json()["results"]) == 1
    assert anonymous.get(f"/api/v1/offers/{offer.pk}/").status_code == 200
    # when
    admin_client.patch(f"/api/v1/offers/{offer.pk}/", {"is_active": False})
    # then
    assert anonymous.get("/api/v1/offers/?kind=internet").json()["results"] == []
    assert anonymous.get(f"/api/v1/offers/{offer.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_new_offer_appears_in_the_cached_catalog_at_once(admin_client: APIClient) -> None:
    # given
    anonymous = APIClient()
    assert anonymous.get("/api/v1/offers/").json()["results"] == []
    # when
    created = admin_client.post("/api/v1/offers/", NEW_OFFER).json()
    # then
    assert [o["id"] for o in anonymous.get("/api/v1/offers/").json()["results"]] == [created["id"]]


@pytest.mark.django_db(transaction=True)
def test_a_reader_that_raced_a_change_does_not_cache_what_it_read() -> None:
    # given: a reader read the generation, then the database, while a change committed
    offer = offer_make(price=500)
    stale = catalog.offer_list_public()  # the cache now holds price 500 under generation g
    Offer.objects.filter(pk=offer.pk).update(price=900)
    catalog._generation_bump()  # what the committed change does
    # when
    fresh = catalog.offer_list_public()
    # then
    assert [o.price for o in stale] == [500]
    assert [o.price for o in fresh] == [900]


# --- Django admin -------------------------------------------------------------------------


def _admin_form(**fields: Any) -> dict[str, Any]:
    values = {
        "name": "Bundle S",
        "kind": "bundle",
        "description": "",
        "price": "1500",
        "currency": "USD",
        "validity_days": "30",
        "data_mb": "1024",
        "voice_minutes": "100",
        "sms": "",
        "tv_channels": "",
        "is_active": "on",
    }
    values.update(fields)
    return {name: value for name, value in values.items() if value is not None}


def test_the_django_admin_adds_an_offer_through_the_service(admin_user: User) -> None:
    # given
    client = Client()
    client.force_login(admin_user)
    # when
    response = client.post("/admin/offers/offer/add/", _admin_form())
    # then
    assert response.status_code == 302
    offer = Offer.objects.get()
    assert (offer.name, offer.kind, offer.price, offer.data_mb, offer.voice_minutes, offer.sms) == (
        "Bundle S",
        "bundle",
        1500,
        1024,
        100,
        None,
    )
    assert list(AuditEvent.objects.values_list("action", "actor")) == [
        ("offer.created", admin_user.pk)
    ]


def test_the_django_admin_changes_an_offer_through_the_service(admin_user: User) -> None:
    # given
    offer = offer_make(
        name="Bundle S", kind=OfferKind.BUNDLE, price=1500, data_mb=1024, voice_minutes=100
    )
    client = Client()
    client.force_login(admin_user)
    # when: the currency is read-only on change, so it is not in the form
    response = client.post(
        f"/admin/offers/offer/{offer.pk}/change/",
        _admin_form(price="1700", is_active=None, currency=None),
    )
    # then
    assert response.status_code == 302
    offer.refresh_from_db()
    assert (offer.price, offer.is_active, offer.currency) == (1700, False, "USD")
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.changes) == (
        "offer.updated",
        admin_user.pk,
        {"price": [1500, 1700], "is_active": [True, False]},
    )


def test_the_django_admin_never_deletes_an_offer(admin_user: User) -> None:
    # given
    offer = offer_make()
    client = Client()
    client.force_login(admin_user)
    # when
    response = client.post(f"/admin/offers/offer/{offer.pk}/delete/", {"post": "yes"})
    # then
    assert response.status_code == 403
    assert Offer.objects.filter(pk=offer.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_with_redis_unreachable_the_catalog_is_read_and_changed_through_postgresql(
    admin_client: APIClient, settings: Any
) -> None:
    # given: the cache points at a port nothing listens on
    offer = offer_make(price=500)
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    anonymous = APIClient()
    # when
    listed = anonymous.get("/api/v1/offers/")
    changed = admin_client.patch(f"/api/v1/offers/{offer.pk}/", {"price": "6.00"})
    detail = anonymous.get(f"/api/v1/offers/{offer.pk}/")
    # then
    assert (listed.status_code, [o["price"] for o in listed.json()["results"]]) == (200, ["5.00"])
    assert changed.status_code == 200
    assert (detail.status_code, detail.json()["price"]) == (200, "6.00")
