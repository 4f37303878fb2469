"""The catalog in Django admin: services and their variants are added and changed through
the catalog services (audited, active vendors only, stock counter dropped); nothing is
ever deleted."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tally.catalog.models import Service, Variant
from tally.catalog.testing import service_make, variant_make
from tally.identity.models import User, VendorProfile
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ADD = "/admin/catalog/service/add/"
PREFIX = "variants"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _inline(rows: list[dict[str, Any]], *, initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{PREFIX}-TOTAL_FORMS": str(len(rows)),
        f"{PREFIX}-INITIAL_FORMS": str(initial),
        f"{PREFIX}-MIN_NUM_FORMS": "0",
        f"{PREFIX}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for name, value in row.items():
            if value is not None:
                data[f"{PREFIX}-{index}-{name}"] = value
    return data


def _service_form(**fields: Any) -> dict[str, Any]:
    values = {
        "title": "Brake repair",
        "description": "",
        "category": "car-repair",
        "images": "",
        "is_active": "on",
    }
    values.update(fields)
    return {name: value for name, value in values.items() if value is not None}


def test_the_admin_adds_a_service_with_a_variant_through_the_services(
    admin_user: User, vendor: VendorProfile
) -> None:
    # when
    response = login(admin_user).post(
        ADD,
        {
            **_service_form(vendor=str(vendor.pk)),
            **_inline(
                [{"name": "Basic", "sku": "B-1", "price": "4500", "stock": "3", "is_active": "on"}]
            ),
        },
    )
    # then
    assert response.status_code == 302, response.context and response.context["errors"]
    service = Service.objects.get()
    variant = Variant.objects.get()
    assert (service.vendor_id, service.title, variant.service_id) == (
        vendor.pk,
        "Brake repair",
        service.pk,
    )
    assert (variant.sku, variant.price, variant.stock) == ("B-1", 4500, 3)
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor")) == [
        ("service.created", admin_user.pk),
        ("variant.created", admin_user.pk),
    ]


def test_the_admin_cannot_give_a_service_to_an_inactive_vendor(
    admin_user: User, inactive_vendor: VendorProfile
) -> None:
    # when
    response = login(admin_user).post(
        ADD, {**_service_form(vendor=str(inactive_vendor.pk)), **_inline([])}
    )
    # then: the form shows the error; nothing is written
    assert response.status_code == 200
    assert "Only an active vendor can sell a service." in response.content.decode()
    assert (Service.objects.count(), AuditEvent.objects.count()) == (0, 0)


def test_the_admin_changes_a_service_and_its_variants_through_the_services(
    admin_user: User, vendor: VendorProfile
) -> None:
    # given
    service = service_make(vendor=vendor)
    variant = variant_make(service=service, price=1000, stock=5, sku="A", name="Basic")
    # when
    response = login(admin_user).post(
        f"/admin/catalog/service/{service.pk}/change/",
        {
            **_service_form(
                title="Engine overhaul",
                category="engines",
                description=service.description,
                is_active=None,
            ),
            **_inline(
                [
                    {
                        "id": str(variant.pk),
                        "service": str(service.pk),
                        "name": "Basic",
                        "sku": "A",
                        "price": "1200",
                        "stock": "2",
                        "is_active": "on",
                    },
                    {"name": "Plus", "sku": "B", "price": "3000", "stock": "", "is_active": "on"},
                ],
                initial=1,
            ),
        },
    )
    # then
    assert response.status_code == 302, response.context and response.context["errors"]
    service.refresh_from_db()
    variant.refresh_from_db()
    assert (service.title, service.category, service.is_active) == (
        "Engine overhaul",
        "engines",
        False,
    )
    assert (variant.price, variant.stock) == (1200, 2)
    assert Variant.objects.get(sku="B").stock is None
    assert list(AuditEvent.objects.order_by("id").values_list("action", "changes")) == [
        (
            "service.updated",
            {
                "title": ["Engine repair", "Engine overhaul"],
                "category": ["car-repair", "engines"],
                "is_active": [True, False],
            },
        ),
        ("variant.updated", {"price": [1000, 1200], "stock": [5, 2]}),
        ("variant.created", AuditEvent.objects.get(action="variant.created").changes),
    ]


def test_the_admin_never_deletes_services_or_variants(admin_user: User) -> None:
    # given
    service = service_make()
    variant_make(service=service)
    # when
    response = login(admin_user).post(
        f"/admin/catalog/service/{service.pk}/delete/", {"post": "yes"}
    )
    # then
    assert response.status_code == 403
    assert (Service.objects.count(), Variant.objects.count()) == (1, 1)


def test_the_admin_lists_services(admin_user: User) -> None:
    service = service_make(title="Listed")
    response = login(admin_user).get("/admin/catalog/service/")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [service]
