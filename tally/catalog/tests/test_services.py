"""The catalog's write rules, called as the shell or a task would (no API in between): who
may write, what is audited, what a refusal leaves behind (nothing)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from tally.catalog import services
from tally.catalog.exceptions import CatalogFieldsInvalidError, SkuTakenError
from tally.catalog.models import Service, Variant
from tally.catalog.services import ServiceChanges, ServiceDraft, VariantChanges, VariantDraft
from tally.catalog.stock import (
    StockLine,
    stock_give_back_fast,
    stock_reserve,
    stock_take_fast,
)
from tally.catalog.stock_counter import stock_counter_peek
from tally.catalog.testing import service_make, variant_make
from tally.identity.exceptions import VendorInactiveError
from tally.identity.models import User, VendorProfile
from tally.identity.tests.factories import CustomerFactory, PartnerFactory, VendorFactory
from tally.platform.audit.models import AuditEvent
from tally.platform.exceptions import PermissionDeniedError
from tally.platform.testing.race import lock_wait_for, transaction_held

pytestmark = pytest.mark.django_db

DRAFT = ServiceDraft(title="Brake repair", category="car-repair", description="Pads and discs.")


def _rows() -> tuple[int, int, int]:
    return Service.objects.count(), Variant.objects.count(), AuditEvent.objects.count()


# --- service_create ----------------------------------------------------------------------


def test_an_active_vendor_creates_its_own_service_audited(vendor: VendorProfile) -> None:
    # when
    service = services.service_create(actor=vendor.user, draft=DRAFT)
    # then
    service.refresh_from_db()
    assert (service.vendor_id, service.title, service.category, service.is_active) == (
        vendor.pk,
        "Brake repair",
        "car-repair",
        True,
    )
    assert (service.description, service.images) == ("Pads and discs.", [])
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.target_id) == (
        "service.created",
        vendor.pk,
        str(service.pk),
    )
    assert event.changes == {
        "vendor": [None, str(vendor.pk)],
        "title": [None, "Brake repair"],
        "category": [None, "car-repair"],
        "is_active": [None, True],
    }


def test_an_inactive_vendor_creates_nothing(inactive_vendor: VendorProfile) -> None:
    # when
    with pytest.raises(VendorInactiveError):
        services.service_create(actor=inactive_vendor.user, draft=DRAFT)
    # then
    assert _rows() == (0, 0, 0)


def test_a_vendor_deactivated_after_signing_in_creates_nothing(vendor: VendorProfile) -> None:
    # given: the user object in hand still says nothing about the deactivation
    user = vendor.user
    VendorProfile.objects.filter(pk=vendor.pk).update(is_active=False)
    # when
    with pytest.raises(VendorInactiveError):
        services.service_create(actor=user, draft=DRAFT)
    # then
    assert _rows() == (0, 0, 0)


@pytest.mark.parametrize("factory", [CustomerFactory, PartnerFactory])
def test_customers_and_partners_create_nothing(factory: Any) -> None:
    # when
    with pytest.raises(PermissionDeniedError):
        services.service_create(actor=factory().user, draft=DRAFT)
    # then
    assert _rows() == (0, 0, 0)


def test_a_vendor_cannot_create_a_service_for_another_vendor(
    vendor: VendorProfile, other_vendor: VendorProfile
) -> None:
    with pytest.raises(PermissionDeniedError):
        services.service_create(actor=vendor.user, vendor=other_vendor, draft=DRAFT)
    assert _rows() == (0, 0, 0)


def test_an_admin_creates_a_service_for_an_active_vendor(
    admin_user: User, vendor: VendorProfile
) -> None:
    # when
    service = services.service_create(actor=admin_user, vendor=vendor, draft=DRAFT)
    # then
    assert Service.objects.get().vendor_id == vendor.pk
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.target_id) == (
        "service.created",
        admin_user.pk,
        str(service.pk),
    )


def test_an_admin_cannot_give_a_service_to_an_inactive_vendor(
    admin_user: User, inactive_vendor: VendorProfile
) -> None:
    with pytest.raises(VendorInactiveError):
        services.service_create(actor=admin_user, vendor=inactive_vendor, draft=DRAFT)
    assert _rows() == (0, 0, 0)


def test_an_admin_must_name_the_vendor(admin_user: User) -> None:
    with pytest.raises(CatalogFieldsInvalidError) as refused:
        services.service_create(actor=admin_user, draft=DRAFT)
    assert refused.value.extra["errors"] == [
        {"field": "vendor", "code": "invalid", "detail": "Admins name the vendor that sells it."}
    ]
    assert _rows() == (0, 0, 0)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"category": "Car Repair"}, "category"),
        ({"category": "car--repair"}, "category"),
        ({"images": ["not a url"]}, "images"),
        ({"images": ["ftp://example.com/a.png"]}, "images"),
        ({"images": [f"https://example.com/{n}.png" for n in range(11)]}, "images"),
        ({"description": "a\x00b"}, "description"),
    ],
)
def test_bad_fields_from_the_shell_are_refused_like_the_api_refuses_them(
    vendor: VendorProfile, fields: dict[str, Any], field: str
) -> None:
    # given
    draft = ServiceDraft(**{"title": "Brake repair", "category": "car-repair", **fields})
    # when
    with pytest.raises(CatalogFieldsInvalidError) as refused:
        services.service_create(actor=vendor.user, draft=draft)
    # then
    assert refused.value.code == "validation_error"
    assert [error["field"] for error in refused.value.extra["errors"]] == [field]
    assert _rows() == (0, 0, 0)


# --- service_update / service_deactivate ------------------------------------------------------


def test_the_owner_changes_its_service_and_only_real_changes_are_audited(
    vendor: VendorProfile,
) -> None:
    # given
    service = service_make(vendor=vendor, title="Engine repair")
    # when
    changed = services.service_update(
        actor=vendor.user,
        service=service,
        changes=ServiceChanges(
            title="Engine repair", category="engines", images=["https://x.io/a.png"]
        ),
    )
    # then
    service.refresh_from_db()
    assert (service.title, service.category, service.images) == (
        "Engine repair",
        "engines",
        ["https://x.io/a.png"],
    )
    assert changed.updated_at == service.updated_at
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id) == ("service.updated", vendor.pk)
    assert event.changes == {
        "category": ["car-repair", "engines"],
        "images": [[], ["https://x.io/a.png"]],
    }


def test_a_change_that_changes_nothing_writes_nothing(vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=vendor)
    before = Service.objects.values().get(pk=service.pk)
    # when
    services.service_update(
        actor=vendor.user, service=service, changes=ServiceChanges(title=service.title)
    )
    # then
    assert Service.objects.values().get(pk=service.pk) == before
    assert AuditEvent.objects.count() == 0


def test_another_vendor_changes_nothing(vendor: VendorProfile, other_vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=vendor)
    before = Service.objects.values().get(pk=service.pk)
    # when
    with pytest.raises(PermissionDeniedError):
        services.service_update(
            actor=other_vendor.user, service=service, changes=ServiceChanges(title="Mine now")
        )
    with pytest.raises(PermissionDeniedError):
        services.service_deactivate(actor=other_vendor.user, service=service)
    # then
    assert Service.objects.values().get(pk=service.pk) == before
    assert AuditEvent.objects.count() == 0


def test_an_inactive_owner_changes_nothing_of_its_own(inactive_vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=inactive_vendor)
    variant = variant_make(service=service, stock=5)
    # when
    with pytest.raises(VendorInactiveError):
        services.service_update(
            actor=inactive_vendor.user, service=service, changes=ServiceChanges(title="New")
        )
    with pytest.raises(VendorInactiveError):
        services.service_deactivate(actor=inactive_vendor.user, service=service)
    with pytest.raises(VendorInactiveError):
        services.variant_create(
            actor=inactive_vendor.user,
            service=service,
            draft=VariantDraft(name="Basic", sku="B", price=100),
        )
    with pytest.raises(VendorInactiveError):
        services.variant_update(
            actor=inactive_vendor.user, variant=variant, changes=VariantChanges(stock=9)
        )
    # then
    service.refresh_from_db()
    variant.refresh_from_db()
    assert (service.title, service.is_active, variant.stock) == ("Engine repair", True, 5)
    assert (Variant.objects.count(), AuditEvent.objects.count()) == (1, 0)


def test_an_admin_changes_any_service(admin_user: User, inactive_vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=inactive_vendor)
    # when
    services.service_update(actor=admin_user, service=service, changes=ServiceChanges(title="X"))
    # then
    service.refresh_from_db()
    assert service.title == "X"
    assert AuditEvent.objects.get().action == "service.updated"


def test_the_vendor_of_a_service_never_changes(admin_user: User, other_vendor: Any) -> None:
    # given
    service = service_make()
    # when
    with pytest.raises(CatalogFieldsInvalidError) as refused:
        services.service_update(
            actor=admin_user,
            service=service,
            changes={"vendor": other_vendor},  # type: ignore[typeddict-unknown-key]
        )
    # then
    assert [e["field"] for e in refused.value.extra["errors"]] == ["vendor"]
    assert Service.objects.get().vendor_id == service.vendor_id


def test_deactivating_keeps_the_row_and_is_audited_once(vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=vendor)
    variant = variant_make(service=service)
    # when
    services.service_deactivate(actor=vendor.user, service=service)
    services.service_deactivate(actor=vendor.user, service=service)
    # then
    service.refresh_from_db()
    variant.refresh_from_db()
    assert (service.is_active, variant.is_active) == (False, True)
    assert list(AuditEvent.objects.values_list("action", "changes")) == [
        ("service.deactivated", {"is_active": [True, False]})
    ]


# --- variants ----------------------------------------------------------------------------


def test_the_owner_adds_a_variant_in_the_deployments_currency(
    vendor: VendorProfile, settings: Any
) -> None:
    # given
    service = service_make(vendor=vendor)
    # when
    variant = services.variant_create(
        actor=vendor.user,
        service=service,
        draft=VariantDraft(name="Basic", sku="BR-1", price=4500, stock=3),
    )
    # then
    variant.refresh_from_db()
    assert (variant.service_id, variant.name, variant.sku, variant.price) == (
        service.pk,
        "Basic",
        "BR-1",
        4500,
    )
    assert (variant.currency, variant.stock, variant.is_active) == (
        settings.TALLY_CURRENCY,
        3,
        True,
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_id, event.target_id) == (
        "variant.created",
        vendor.pk,
        str(variant.pk),
    )
    assert event.changes == {
        "service": [None, str(service.pk)],
        "name": [None, "Basic"],
        "sku": [None, "BR-1"],
        "price": [None, 4500],
        "currency": [None, settings.TALLY_CURRENCY],
        "stock": [None, 3],
        "is_active": [None, True],
    }


def test_a_sku_is_unique_within_its_service_only(vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=vendor)
    variant_make(service=service, sku="BR-1")
    elsewhere = service_make(vendor=vendor)
    # when
    with pytest.raises(SkuTakenError) as refused:
        services.variant_create(
            actor=vendor.user, service=service, draft=VariantDraft(name="X", sku="BR-1", price=1)
        )
    services.variant_create(
        actor=vendor.user, service=elsewhere, draft=VariantDraft(name="X", sku="BR-1", price=1)
    )
    # then
    assert (refused.value.status_code, refused.value.code) == (409, "sku_taken")
    assert Variant.objects.filter(service=service).count() == 1
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["variant.created"]


def test_renaming_a_sku_to_a_taken_one_is_refused(vendor: VendorProfile) -> None:
    # given
    service = service_make(vendor=vendor)
    variant_make(service=service, sku="A")
    second = variant_make(service=service, sku="B")
    # when
    with pytest.raises(SkuTakenError):
        services.variant_update(actor=vendor.user, variant=second, changes=VariantChanges(sku="A"))
    # then
    second.refresh_from_db()
    assert second.sku == "B"
    assert AuditEvent.objects.count() == 0


def test_another_vendor_cannot_add_or_change_variants(
    vendor: VendorProfile, other_vendor: VendorProfile
) -> None:
    # given
    service = service_make(vendor=vendor)
    variant = variant_make(service=service, price=100)
    # when
    with pytest.raises(PermissionDeniedError):
        services.variant_create(
            actor=other_vendor.user, service=service, draft=VariantDraft(name="X", sku="X", price=1)
        )
    with pytest.raises(PermissionDeniedError):
        services.variant_update(
            actor=other_vendor.user, variant=variant, changes=VariantChanges(price=1)
        )
    with pytest.raises(PermissionDeniedError):
        services.variant_deactivate(actor=other_vendor.user, variant=variant)
    # then
    variant.refresh_from_db()
    assert (variant.price, variant.is_active, Variant.objects.count()) == (100, True, 1)
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"price": 0}, "price"),
        ({"price": -5}, "price"),
        ({"price": 10**13 + 1}, "price"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "JPY"}, "currency"),
        ({"currency": "XAU"}, "currency"),
        ({"stock": -1}, "stock"),
        ({"sku": "has space"}, "sku"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_variant_fields_are_refused_before_the_database(
    vendor: VendorProfile, fields: dict[str, Any], field: str
) -> None:
    # given
    service = service_make(vendor=vendor)
    draft = VariantDraft(**{"name": "Basic", "sku": "B-1", "price": 100, **fields})
    # when
    with pytest.raises(CatalogFieldsInvalidError) as refused:
        services.variant_create(actor=vendor.user, service=service, draft=draft)
    # then
    assert [error["field"] for error in refused.value.extra["errors"]] == [field]
    assert (Variant.objects.count(), AuditEvent.objects.count()) == (0, 0)


def test_a_variants_currency_never_changes(vendor: VendorProfile) -> None:
    # given
    variant = variant_make(service=service_make(vendor=vendor), currency="EUR")
    # when
    with pytest.raises(CatalogFieldsInvalidError):
        services.variant_update(
            actor=vendor.user,
            variant=variant,
            changes={"currency": "USD"},  # type: ignore[typeddict-unknown-key]
        )
    # then
    variant.refresh_from_db()
    assert variant.currency == "EUR"


def test_an_update_audits_old_and_new_values(vendor: VendorProfile) -> None:
    # given
    variant = variant_make(service=service_make(vendor=vendor), price=100, stock=4)
    # when
    services.variant_update(
        actor=vendor.user,
        variant=variant,
        changes=VariantChanges(price=150, stock=None, name=variant.name),
    )
    services.variant_deactivate(actor=vendor.user, variant=variant)
    # then
    variant.refresh_from_db()
    assert (variant.price, variant.stock, variant.is_active) == (150, None, False)
    assert list(AuditEvent.objects.order_by("id").values_list("action", "changes")) == [
        ("variant.updated", {"price": [100, 150], "stock": [4, None]}),
        ("variant.deactivated", {"is_active": [True, False]}),
    ]


# --- stock and its Redis counter ----------------------------------------------------------------


def _counter_built(variant: Variant) -> int | None:
    """Build the variant's Redis counter the way an order does (take 1 unit, give it back)."""
    taken = stock_take_fast(lines=[StockLine(variant_id=variant.pk, quantity=1)])
    stock_give_back_fast(lines=taken)
    return stock_counter_peek(variant_id=variant.pk)


@pytest.mark.django_db(transaction=True)
def test_a_stock_change_drops_the_redis_counter_once_it_commits() -> None:
    # given
    vendor = VendorFactory()
    variant = variant_make(service=service_make(vendor=vendor), stock=5)
    assert _counter_built(variant) == 5
    # when: the change is made but not committed yet, the counter is still there
    with transaction.atomic():
        services.variant_update(actor=vendor.user, variant=variant, changes=VariantChanges(stock=2))
        before_commit = stock_counter_peek(variant_id=variant.pk)
    # then
    assert before_commit == 5
    assert stock_counter_peek(variant_id=variant.pk) is None
    assert _counter_built(variant) == 2


@pytest.mark.django_db(transaction=True)
def test_a_change_that_leaves_the_stock_alone_keeps_the_counter() -> None:
    # given
    vendor = VendorFactory()
    variant = variant_make(service=service_make(vendor=vendor), stock=5)
    assert _counter_built(variant) == 5
    # when
    services.variant_update(actor=vendor.user, variant=variant, changes=VariantChanges(price=700))
    # then
    assert stock_counter_peek(variant_id=variant.pk) == 5


@pytest.mark.django_db(transaction=True)
def test_a_refused_stock_change_keeps_the_counter() -> None:
    # given
    vendor = VendorFactory()
    other = VendorFactory()
    variant = variant_make(service=service_make(vendor=vendor), stock=5)
    assert _counter_built(variant) == 5
    # when
    with pytest.raises(PermissionDeniedError):
        services.variant_update(actor=other.user, variant=variant, changes=VariantChanges(stock=0))
    # then
    assert stock_counter_peek(variant_id=variant.pk) == 5


@pytest.mark.django_db(transaction=True)
def test_a_stock_set_waits_for_a_reservation_in_flight_and_audits_what_it_replaced() -> None:
    # given: an order holds a reservation of 2 units of 5, uncommitted
    vendor = VendorFactory()
    variant = variant_make(service=service_make(vendor=vendor), stock=5)
    lines = [StockLine(variant_id=variant.pk, quantity=2)]
    errors: list[BaseException] = []

    def set_stock() -> None:
        try:
            services.variant_update(
                actor=vendor.user, variant=variant, changes=VariantChanges(stock=10)
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with transaction_held(lambda: stock_reserve(lines=lines)):
        setter = threading.Thread(target=set_stock)
        setter.start()
        # when: the vendor's absolute set waits on the variant's row lock
        lock_wait_for(timeout_seconds=10)
    # then: the reservation committed first; the set replaced 3 (not 5) with 10
    setter.join(timeout=10)
    assert errors == []
    variant.refresh_from_db()
    assert variant.stock == 10
    assert AuditEvent.objects.get().changes == {"stock": [3, 10]}
