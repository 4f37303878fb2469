"""Expected API bodies of services and variants, built from the database (read fresh)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework.test import APIClient

from tally.catalog.models import Service, Variant
from tally.platform.money import from_minor


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def variant_body(variant: Variant) -> dict[str, Any]:
    variant.refresh_from_db()
    return {
        "id": str(variant.pk),
        "service": str(variant.service_id),
        "name": variant.name,
        "sku": variant.sku,
        "price": from_minor(variant.price),
        "currency": variant.currency,
        "stock": variant.stock,
        "in_stock": variant.stock is None or variant.stock > 0,
        "is_active": variant.is_active,
        "created_at": iso(variant.created_at),
        "updated_at": iso(variant.updated_at),
    }


def service_body(service: Service, *, every_variant: bool = False) -> dict[str, Any]:
    """The service as the API renders it: its active variants (``every_variant``: all of
    them, as its vendor and admins see it), cheapest first."""
    service = Service.objects.select_related("vendor").get(pk=service.pk)
    variants = list(service.variants.order_by("price", "id"))
    active = [variant for variant in variants if variant.is_active]
    return {
        "id": str(service.pk),
        "vendor": str(service.vendor_id),
        "vendor_name": service.vendor.business_name,
        "title": service.title,
        "description": service.description,
        "category": service.category,
        "images": list(service.images),
        "is_active": service.is_active,
        "min_price": from_minor(active[0].price) if active else None,
        "in_stock": any(v.stock is None or v.stock > 0 for v in active),
        "variants": [variant_body(v) for v in (variants if every_variant else active)],
        "created_at": iso(service.created_at),
        "updated_at": iso(service.updated_at),
    }


def client_for(role: str, request: Any) -> APIClient:
    """The API client of ``role``: a fixture name's prefix (admin, vendor, customer,
    partner, other_vendor, inactive_vendor) or anonymous."""
    return APIClient() if role == "anonymous" else request.getfixturevalue(f"{role}_client")
