"""The marketplace catalog: vendors' services and their priced variants.

A ``Service`` is what a vendor offers (e.g. "Engine repair"); its ``Variant`` rows are the
pricing tiers a buyer orders (e.g. "Basic", "Premium"). Prices are integers of minor units
in the variant's currency. A variant's ``stock`` is the number of units left to sell, or
null for unlimited; the database keeps it at 0 or more (a CHECK constraint), and only
``tally.catalog.stock`` changes it once the variant exists.

Services and variants are never deleted once ordered (order items point at them):
deleting one through the API deactivates it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.utils import timezone

from tally.identity.models import VendorProfile

# The text-search configuration of the catalog's search column and queries.
SEARCH_CONFIG = "english"
MAX_IMAGES = 10


def default_currency() -> str:
    return str(settings.TALLY_CURRENCY)


class Service(models.Model):
    """A service a vendor sells, in one or more variants."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey(VendorProfile, on_delete=models.PROTECT, related_name="services")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # A lower-case slug ("car-repair"); free to choose, filtered by equality.
    category = models.CharField(max_length=64)
    images = ArrayField(models.URLField(max_length=500), default=list, blank=True)
    is_active = models.BooleanField(default=True)
    # Maintained by PostgreSQL from the title (weight A) and description (weight B).
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config=SEARCH_CONFIG)
        + SearchVector("description", weight="B", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(category__regex=r"^[a-z0-9]+(-[a-z0-9]+)*$"),
                name="service_category_slug",
            ),
            models.CheckConstraint(
                condition=models.Q(images__len__lte=MAX_IMAGES), name="service_images_max"
            ),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="service_search_idx"),
            models.Index(fields=["is_active", "category", "-created_at"], name="service_cat_idx"),
            models.Index(fields=["vendor", "-created_at"], name="service_vendor_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class Variant(models.Model):
    """A pricing tier of a service: what an order line buys."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="variants")
    name = models.CharField(max_length=120)
    # Unique within its service (the vendor's own stock-keeping code).
    sku = models.CharField(max_length=64)
    # Minor units of ``currency``.
    price = models.BigIntegerField()
    currency = models.CharField(max_length=3, default=default_currency)
    # Units left to sell; null: unlimited. Changed only by tally.catalog.stock.
    stock = models.IntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "sku"], name="variant_sku_per_service"),
            models.CheckConstraint(condition=models.Q(price__gt=0), name="variant_price_positive"),
            models.CheckConstraint(
                condition=models.Q(stock__isnull=True) | models.Q(stock__gte=0),
                name="variant_stock_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="variant_currency_format"
            ),
        ]
        indexes = [
            models.Index(fields=["service", "is_active", "price"], name="variant_service_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"
