"""Catalog writes: vendors (and admins) create, change and deactivate services and variants.

Who may write, whatever the caller (API, Django admin, shell, a task):

- an admin: any service and variant. A new service still needs an *active* owner: an
  admin creates it for an active vendor only (422 ``vendor_inactive`` otherwise).
- an active vendor: its own services and their variants only (403 for another vendor's).
- an inactive vendor: nothing (422 ``vendor_inactive``), not even its own services.
- customers, partners: nothing (403).

Rows are never deleted (order items point at variants): "delete" deactivates. Every change
writes its audit row (``service.created``, ``service.updated``, ``service.deactivated``,
``variant.created``, ``variant.updated``, ``variant.deactivated``; ``changes`` holds
``[old, new]`` pairs) in the same transaction. The fields are checked here too, not only by
the API's serializers, so a shell caller gets the same refusals (400 ``validation_error``
naming the field) instead of a database error.

Concurrency: a change locks the row it changes (``tally.catalog.lock_objects``), reads it
there, writes only the fields that really change and audits exactly what it replaced. A
variant's lock also orders the change with stock reservations, which update the same row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from tally.catalog.exceptions import CatalogFieldsInvalidError, SkuTakenError
from tally.catalog.lock_objects import service_lock, variant_lock
from tally.catalog.models import MAX_IMAGES, Service, Variant
from tally.catalog.stock import stock_changed_on_commit
from tally.identity.exceptions import VendorInactiveError
from tally.identity.models import User, VendorProfile
from tally.identity.services import vendor_require_active
from tally.platform.audit.services import audit_record
from tally.platform.db import use_case
from tally.platform.exceptions import PermissionDeniedError
from tally.platform.money import MAX_AMOUNT_MINOR

# --- limits ------------------------------------------------------------------------------

MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
MAX_CATEGORY_LENGTH = 64
MAX_IMAGE_URL_LENGTH = 500
MAX_VARIANT_NAME_LENGTH = 120
MAX_SKU_LENGTH = 64
# The stock column is a 32-bit integer.
MAX_STOCK = 2_147_483_647
CATEGORY_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# A vendor's code for the variant: visible characters, no spaces.
SKU_PATTERN = re.compile(r"^[!-~]+$")
IMAGE_URL_SCHEMES = ("http", "https")

# ISO 4217 codes of the currencies whose minor unit is a hundredth: the API speaks
# two-decimal amounts (``tally.platform.money``), so a currency with 0 or 3 decimals (JPY,
# KWD) or a fund, metal or test code (XAU, XTS) cannot price a variant.
_CURRENCY_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT
    LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
    NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE
    SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES
    WST XCD XCG YER ZAR ZMW ZWG
"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())


def currencies_accepted() -> frozenset[str]:
    """``CURRENCIES`` and the deployment's own ``TALLY_CURRENCY``, whatever it is."""
    return CURRENCIES | {str(settings.TALLY_CURRENCY)}


_url = URLValidator(schemes=list(IMAGE_URL_SCHEMES))


# --- errors ------------------------------------------------------------------------------


# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceDraft:
    """A new service's fields. ``category`` is a lower-case slug ("car-repair"); ``images``
    are http(s) URLs, at most ``MAX_IMAGES``."""

    title: str
    category: str
    description: str = ""
    images: Sequence[str] = field(default_factory=list)
    is_active: bool = True


class ServiceChanges(TypedDict, total=False):
    """The fields that may change on a service (its vendor never does)."""

    title: str
    description: str
    category: str
    images: Sequence[str]
    is_active: bool


@dataclass(frozen=True)
class VariantDraft:
    """A new variant's fields. ``price`` is in minor units of ``currency`` (the
    deployment's ``TALLY_CURRENCY`` when None); ``stock`` is the units to sell (None:
    unlimited)."""

    name: str
    sku: str
    price: int
    currency: str | None = None
    stock: int | None = None
    is_active: bool = True


class VariantChanges(TypedDict, total=False):
    """The fields that may change on a variant. The currency is fixed at creation (orders
    were priced in it). ``stock`` is an absolute set: the units left to sell from now on
    (None: unlimited)."""

    name: str
    sku: str
    price: int
    stock: int | None
    is_active: bool


# --- checks ------------------------------------------------------------------------------


def _text_problems(value: Any, *, max_length: int, blank: bool = False) -> list[str]:
    if not isinstance(value, str):
        return ["Must be a string."]
    if "\x00" in value:
        return ["Null characters are not allowed."]
    if not blank and not value.strip():
        return ["This field may not be blank."]
    if len(value) > max_length:
        return [f"Ensure this field has no more than {max_length} characters."]
    return []


def _service_problems(values: Mapping[str, Any]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if "title" in values:
        problems["title"] = _text_problems(values["title"], max_length=MAX_TITLE_LENGTH)
    if "description" in values:
        problems["description"] = _text_problems(
            values["description"], max_length=MAX_DESCRIPTION_LENGTH, blank=True
        )
    if "category" in values:
        category = values["category"]
        problems["category"] = _text_problems(category, max_length=MAX_CATEGORY_LENGTH) or (
            []
            if CATEGORY_PATTERN.match(category)
            else ["Use a lower-case slug of letters, digits and single hyphens, like car-repair."]
        )
    if "images" in values:
        problems["images"] = _images_problems(values["images"])
    if "is_active" in values and not isinstance(values["is_active"], bool):
        problems["is_active"] = ["Must be true or false."]
    return {name: found for name, found in problems.items() if found}


def _images_problems(images: Any) -> list[str]:
    if isinstance(images, str) or not isinstance(images, Sequence):
        return ["Must be a list of URLs."]
    if len(images) > MAX_IMAGES:
        return [f"Ensure this field has no more than {MAX_IMAGES} elements."]
    for image in images:
        if not isinstance(image, str) or len(image) > MAX_IMAGE_URL_LENGTH:
            return [f"Each image is a URL of at most {MAX_IMAGE_URL_LENGTH} characters."]
        try:
            _url(image)
        except DjangoValidationError:
            return [f"Not an http(s) URL: {image[:100]}"]
    return []


def _variant_problems(values: Mapping[str, Any]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if "name" in values:
        problems["name"] = _text_problems(values["name"], max_length=MAX_VARIANT_NAME_LENGTH)
    if "sku" in values:
        sku = values["sku"]
        problems["sku"] = _text_problems(sku, max_length=MAX_SKU_LENGTH) or (
            [] if SKU_PATTERN.match(sku) else ["Use visible characters without spaces."]
        )
    if "price" in values:
        price = values["price"]
        if isinstance(price, bool) or not isinstance(price, int):
            problems["price"] = ["Must be an integer of minor units."]
        elif not 0 < price <= MAX_AMOUNT_MINOR:
            problems["price"] = ["The price must be greater than zero and at most 100000000000.00."]
    if "currency" in values and values["currency"] not in currencies_accepted():
        problems["currency"] = ["Must be an ISO 4217 code of a currency with two decimals."]
    if "stock" in values:
        stock = values["stock"]
        if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int)):
            problems["stock"] = ["Must be a whole number of units, or null for unlimited."]
        elif stock is not None and not 0 <= stock <= MAX_STOCK:
            problems["stock"] = [f"Must be between 0 and {MAX_STOCK}, or null for unlimited."]
    if "is_active" in values and not isinstance(values["is_active"], bool):
        problems["is_active"] = ["Must be true or false."]
    return {name: found for name, found in problems.items() if found}


def _unchangeable(changes: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, list[str]]:
    return {name: ["This field cannot be changed."] for name in changes if name not in allowed}


def _refuse_problems(problems: dict[str, list[str]]) -> None:
    if problems:
        raise CatalogFieldsInvalidError(problems)


# --- who may write -----------------------------------------------------------------------


def service_require_manager(*, actor: User, service: Service) -> None:
    """Refuse anyone who may not change ``service``: admins may; its vendor may while
    active (422 ``vendor_inactive`` otherwise, read now); anyone else is refused (403)."""
    if actor.is_admin:
        return
    vendor = vendor_require_active(user=actor)
    if service.vendor_id != vendor.pk:
        raise PermissionDeniedError("This service belongs to another vendor.")


def _owner_for_new_service(*, actor: User, vendor: VendorProfile | None) -> VendorProfile:
    if actor.is_admin:
        if vendor is None:
            raise CatalogFieldsInvalidError({"vendor": ["Admins name the vendor that sells it."]})
        owner = VendorProfile.objects.filter(pk=vendor.pk).first()
        if owner is None:
            raise CatalogFieldsInvalidError({"vendor": ["No such vendor."]})
        if not owner.is_active:
            raise VendorInactiveError("Only an active vendor can sell a service.")
        return owner
    own = vendor_require_active(user=actor)
    if vendor is not None and vendor.pk != own.pk:
        raise PermissionDeniedError("Vendors create services of their own only.")
    return own


# --- audit helpers -------------------------------------------------------------------------


def _audit_value(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _changed(current: Any, changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields whose value really changes."""
    return {
        name: [_audit_value(getattr(current, name)), _audit_value(value)]
        for name, value in changes.items()
        if _audit_value(getattr(current, name)) != _audit_value(value)
    }


# --- services ----------------------------------------------------------------------------


@use_case
def service_create(
    *, actor: User, draft: ServiceDraft, vendor: VendorProfile | None = None
) -> Service:
    """Add a service to the catalog, owned by ``vendor``.

    A vendor creates its own (``vendor`` None or itself; another vendor is 403) and must be
    active (422 ``vendor_inactive``); an admin must name an active ``vendor`` (400 if
    missing, 422 ``vendor_inactive`` if inactive). Customers and partners are refused (403).
    A new service is on sale once it has an active variant.

    Guarantees: the service and its ``service.created`` audit row commit together; bad
    fields are refused (400 ``validation_error``) before anything is written. Locks
    nothing. Enqueues nothing.
    """
    owner = _owner_for_new_service(actor=actor, vendor=vendor)
    values = {
        "title": draft.title,
        "description": draft.description,
        "category": draft.category,
        "images": list(draft.images),
        "is_active": draft.is_active,
    }
    _refuse_problems(_service_problems(values))
    now = timezone.now()
    service = Service.objects.create(vendor=owner, created_at=now, updated_at=now, **values)
    audit_record(
        actor=actor,
        action="service.created",
        target=service,
        changes={
            "vendor": [None, str(owner.pk)],
            **{name: [None, _audit_value(values[name])] for name in ("title", "category")},
            "is_active": [None, service.is_active],
        },
    )
    return service


def _service_change(
    *, actor: User, service: Service, changes: ServiceChanges, action: str
) -> Service:
    current = service_lock(service_id=service.pk)
    service_require_manager(actor=actor, service=current)
    _refuse_problems(
        _unchangeable(changes, ServiceChanges.__optional_keys__) | _service_problems(changes)
    )
    changed = _changed(current, changes)
    if not changed:
        return current
    values: dict[str, Any] = {name: changes[name] for name in changed}  # type: ignore[literal-required]
    if "images" in values:
        values["images"] = list(values["images"])
    values["updated_at"] = timezone.now()
    Service.objects.filter(pk=current.pk).update(**values)
    for name, value in values.items():
        setattr(current, name, value)
    audit_record(actor=actor, action=action, target=current, changes=changed)
    return current


@use_case
def service_update(*, actor: User, service: Service, changes: ServiceChanges) -> Service:
    """Change a service's fields (deactivating it is ``is_active=False``, reactivating
    ``True``). Its vendor while active, or an admin (see ``service_require_manager``).

    Guarantees: only fields that really change are written, with a ``service.updated``
    audit row of ``[old, new]`` pairs in the same transaction; a change that changes
    nothing writes nothing. Locks the service row (concurrent changes apply one after the
    other, each auditing what the previous one wrote). Enqueues nothing.
    """
    return _service_change(actor=actor, service=service, changes=changes, action="service.updated")


@use_case
def service_deactivate(*, actor: User, service: Service) -> Service:
    """Take a service off sale (the API's DELETE): it stays in the database, its variants
    untouched, because order items point at them. Deactivating an inactive service writes
    nothing. Same rules, lock and audit (``service.deactivated``) as ``service_update``."""
    return _service_change(
        actor=actor,
        service=service,
        changes=ServiceChanges(is_active=False),
        action="service.deactivated",
    )


def _sku_taken(exc: IntegrityError) -> bool:
    return "variant_sku_per_service" in str(exc)


@use_case
def variant_create(*, actor: User, service: Service, draft: VariantDraft) -> Variant:
    """Add a pricing tier to ``service``. Its vendor while active, or an admin.

    Guarantees: the variant and its ``variant.created`` audit row commit together; a sku
    already used by another variant of the service is 409 ``sku_taken`` (the unique
    constraint decides, so two concurrent creations cannot both take it); bad fields are
    400 ``validation_error``; nothing is written on a refusal. Locks nothing. Enqueues
    nothing.
    """
    current = Service.objects.select_related("vendor").filter(pk=service.pk).first()
    if current is None:
        raise CatalogFieldsInvalidError({"service": ["No such service."]})
    service_require_manager(actor=actor, service=current)
    values: dict[str, Any] = {
        "name": draft.name,
        "sku": draft.sku,
        "price": draft.price,
        "currency": draft.currency or str(settings.TALLY_CURRENCY),
        "stock": draft.stock,
        "is_active": draft.is_active,
    }
    _refuse_problems(_variant_problems(values))
    now = timezone.now()
    try:
        with transaction.atomic():
            variant = Variant.objects.create(
                service=current, created_at=now, updated_at=now, **values
            )
    except IntegrityError as exc:
        if _sku_taken(exc):
            raise SkuTakenError(sku=values["sku"]) from exc
        raise
    audit_record(
        actor=actor,
        action="variant.created",
        target=variant,
        changes={"service": [None, str(current.pk)]}
        | {name: [None, value] for name, value in values.items()},
    )
    return variant


def _variant_change(
    *, actor: User, variant: Variant, changes: VariantChanges, action: str
) -> Variant:
    current = variant_lock(variant_id=variant.pk)
    service_require_manager(actor=actor, service=current.service)
    _refuse_problems(
        _unchangeable(changes, VariantChanges.__optional_keys__) | _variant_problems(changes)
    )
    changed = _changed(current, changes)
    if not changed:
        return current
    values: dict[str, Any] = {name: changes[name] for name in changed}  # type: ignore[literal-required]
    values["updated_at"] = timezone.now()
    try:
        with transaction.atomic():
            Variant.objects.filter(pk=current.pk).update(**values)
    except IntegrityError as exc:
        if _sku_taken(exc):
            raise SkuTakenError(sku=values["sku"]) from exc
        raise
    for name, value in values.items():
        setattr(current, name, value)
    audit_record(actor=actor, action=action, target=current, changes=changed)
    if "stock" in changed:
        stock_changed_on_commit(variant_id=current.pk)
    return current


@use_case
def variant_update(*, actor: User, variant: Variant, changes: VariantChanges) -> Variant:
    """Change a variant (its currency is fixed). Its service's vendor while active, or an
    admin.

    ``stock`` is an absolute set: the units left for new orders from now on (None:
    unlimited). Units that open orders hold are not part of it and come back on top of it
    if those orders are cancelled or expire. A new price applies to orders created after
    the change commits; existing orders keep the price they snapshotted.

    Guarantees: only fields that really change are written, with a ``variant.updated``
    audit row of ``[old, new]`` pairs (the old stock is the value read under the lock,
    after any reservation that committed first); a sku already used in the service is 409
    ``sku_taken``; a change that changes nothing writes nothing. Locks the variant row, so
    it is ordered with stock reservations. When the stock changes, the variant's Redis stock
    counter is dropped after commit (the next order rebuilds it from the database).
    Enqueues nothing.
    """
    return _variant_change(actor=actor, variant=variant, changes=changes, action="variant.updated")


@use_case
def variant_deactivate(*, actor: User, variant: Variant) -> Variant:
    """Take a variant off sale (the API's DELETE); it stays in the database for the order
    items that point at it. Deactivating an inactive variant writes nothing. Same rules,
    lock and audit (``variant.deactivated``) as ``variant_update``."""
    return _variant_change(
        actor=actor,
        variant=variant,
        changes=VariantChanges(is_active=False),
        action="variant.deactivated",
    )
