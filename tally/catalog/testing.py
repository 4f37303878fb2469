"""Test helpers for every app that sells or reads the marketplace catalog: services and
variants written straight to the database (no audit row, no vendor check), so a test can
set up any state, an inactive vendor's service included. Imported by tests only."""

from __future__ import annotations

from itertools import count
from typing import Any, cast

from tally.catalog.models import Service, Variant
from tally.identity.models import VendorProfile

_numbers = count(1)


def service_make(*, vendor: VendorProfile | None = None, **fields: Any) -> Service:
    """An active "Engine repair" service in category ``car-repair`` of ``vendor`` (a new
    active vendor when None), unless ``fields`` say else."""
    if vendor is None:
        from tally.identity.tests.factories import VendorFactory

        vendor = cast(VendorProfile, VendorFactory())
    values: dict[str, Any] = {
        "title": "Engine repair",
        "description": "Diagnosis and repair of petrol and diesel engines.",
        "category": "car-repair",
    }
    values.update(fields)
    return Service.objects.create(vendor=vendor, **values)


def variant_make(
    *,
    service: Service | None = None,
    price: int = 5000,
    stock: int | None = None,
    currency: str | None = None,
    **fields: Any,
) -> Variant:
    """An active variant of ``service`` (a new service when None) at ``price`` minor units
    of ``currency`` (the deployment's when None), with ``stock`` units (None: unlimited).
    Name and sku are unique per call unless ``fields`` say else."""
    if service is None:
        service = service_make()
    number = next(_numbers)
    values: dict[str, Any] = {"name": f"Tier {number}", "sku": f"SKU-{number}"}
    values.update(fields)
    if currency is not None:
        values["currency"] = currency
    return Variant.objects.create(service=service, price=price, stock=stock, **values)
