"""The catalog's test helpers build what they say (other apps' tests rely on them)."""

from __future__ import annotations

from typing import Any

import pytest

from tally.catalog.testing import service_make, variant_make
from tally.identity.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


def test_service_make_and_variant_make_build_active_rows_with_defaults(settings: Any) -> None:
    # given
    vendor = VendorFactory()
    # when
    service = service_make(vendor=vendor, title="Brake repair")
    first = variant_make(service=service, price=1250, stock=3)
    second = variant_make(service=service, price=900, currency="EUR")
    # then
    assert (service.vendor_id, service.title, service.category, service.is_active) == (
        vendor.pk,
        "Brake repair",
        "car-repair",
        True,
    )
    assert (first.price, first.stock, first.currency, first.is_active) == (
        1250,
        3,
        settings.TALLY_CURRENCY,
        True,
    )
    assert (second.price, second.stock, second.currency) == (900, None, "EUR")
    assert first.sku != second.sku


def test_variant_make_without_a_service_makes_one_of_a_new_active_vendor() -> None:
    variant = variant_make()
    assert variant.service.vendor.is_active
