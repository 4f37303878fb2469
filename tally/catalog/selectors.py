"""Catalog reads. Each permission-guarded lookup is one function, so each access rule lives
in one place; views read services and variants only through these.

Who sees what:

- the public catalog (anyone, signed in or not): active services of active vendors that
  have at least one active variant, each with its active variants only.
- a vendor's own services (``mine``): every one of them, active or not, with every
  variant, even while the vendor is inactive (it may read, not write).
- admins: every service, with every variant.
- one service by id: as above, so a vendor reads its own inactive service and an admin
  any, while anyone else gets 404 for a service that is not on sale (as for an unknown
  id). A service another vendor sells publicly is readable by everyone; writing to it is
  refused by the services (403), see ``tally.catalog.services``.

Lists are ordered by one unique text key per ordering (``position``), so cursor pages
never repeat or skip a service, whatever the number of equal prices, titles or creation
times: DRF's cursor pagination filters on the first ordering column only, so a tie-break
column would not be enough; the key ends with the service's id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import (
    BigIntegerField,
    CharField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Collate, Concat, Lower, LPad, RPad

from tally.catalog.models import SEARCH_CONFIG, Service, Variant
from tally.identity.models import User
from tally.platform.exceptions import NotFoundError, PermissionDeniedError

# The public orderings of the list, and the one used for a search without ``ordering``.
ORDERINGS = ("-created_at", "created_at", "price", "-price", "title")
DEFAULT_ORDERING = "-created_at"
RELEVANCE = "relevance"
# Searches longer than this are refused by the API (a query is a few words).
MAX_SEARCH_LENGTH = 200

_MAX_BIGINT = 9_223_372_036_854_775_807
_TITLE_WIDTH = 200
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass(frozen=True)
class ServiceFilters:
    """Filters of the service list; None (or False) filters nothing. Prices are minor units
    compared with the cheapest active variant's price. ``search`` is a web-search style
    query (words, "quoted phrases", -excluded, or) over title and description."""

    category: str | None = None
    vendor_id: UUID | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    search: str | None = None
    is_active: bool | None = None


@dataclass(frozen=True)
class ServiceListing:
    """A filtered list of services: ``services`` carries the unique ``position`` key;
    paginate it by ``ordering``. A cursor's position must match ``position_pattern``."""

    services: QuerySet[Service]
    ordering: str
    position_pattern: re.Pattern[str]


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) and actor.is_authenticated else None


# --- building blocks ---------------------------------------------------------------------


def _active_variants() -> QuerySet[Variant]:
    return Variant.objects.filter(service=OuterRef("pk"), is_active=True)


def _public_services() -> QuerySet[Service]:
    """What anyone may see: on sale, sold by an active vendor, with an active variant."""
    return Service.objects.filter(is_active=True, vendor__is_active=True).filter(
        Exists(_active_variants())
    )


def _annotated(services: QuerySet[Service]) -> QuerySet[Service]:
    """Add ``min_price`` (the cheapest active variant's price, minor units; None without
    one) and ``in_stock`` (an active variant with unlimited stock or units left)."""
    cheapest = _active_variants().order_by("price").values("price")[:1]
    # The search column is for the database's index and ranking only: never fetched.
    return (
        services.select_related("vendor")
        .defer("search_vector")
        .annotate(
            min_price=Subquery(cheapest, output_field=BigIntegerField()),
            in_stock=Exists(_active_variants().filter(Q(stock__isnull=True) | Q(stock__gt=0))),
        )
    )


def _variants_prefetch(*, every: bool) -> Prefetch[Any]:
    variants = Variant.objects.order_by("price", "id")
    if not every:
        variants = variants.filter(is_active=True)
    return Prefetch("variants", queryset=variants, to_attr="listed_variants")


def _to_char(expression: Any, pattern: str) -> Func:
    return Func(expression, Value(pattern), function="to_char", output_field=CharField())


def _id_text() -> Cast:
    return Cast("id", output_field=CharField())


def _position(ordering: str) -> tuple[Any, str]:
    """The unique text key of ``ordering`` (compared byte-wise, COLLATE "C") and the
    pattern of its values: fixed-width fields, then the service's id."""
    name = ordering.lstrip("-")
    if name == "created_at":
        key = Concat(_to_char(F("created_at"), "YYYYMMDDHH24MISSUS"), _id_text())
        pattern = r"\d{20}" + _UUID
    elif name == "price":
        price = Coalesce(F("min_price"), Value(_MAX_BIGINT), output_field=BigIntegerField())
        key = Concat(LPad(Cast(price, output_field=CharField()), 19, Value("0")), _id_text())
        pattern = r"\d{19}" + _UUID
    elif name == "title":
        key = Concat(RPad(Lower("title"), _TITLE_WIDTH, Value(" ")), _id_text())
        pattern = rf"(?s).{{{_TITLE_WIDTH}}}" + _UUID
    else:  # relevance: the rank scaled to an integer
        scaled = ExpressionWrapper(F("rank") * Value(1e9), output_field=FloatField())
        rank = Cast(scaled, output_field=BigIntegerField())
        key = Concat(LPad(Cast(rank, output_field=CharField()), 19, Value("0")), _id_text())
        pattern = r"\d{19}" + _UUID
    return Collate(key, "C"), pattern


# --- lists -------------------------------------------------------------------------------


def service_list_for_actor(
    *,
    actor: Any,
    filters: ServiceFilters,
    ordering: str | None = None,
    mine: bool = False,
) -> ServiceListing:
    """The services ``actor`` sees (see the module's docstring), filtered and ordered.

    ``mine``: the calling vendor's own services (403 for anyone else). Otherwise admins see
    every service and anyone else the public catalog. ``ordering`` is one of ``ORDERINGS``
    (default newest first; with a ``search``, most relevant first). Each service comes
    with ``min_price``, ``in_stock`` and ``listed_variants`` (active ones in the public
    catalog, all of them for the owner or an admin), cheapest first; two queries per page.
    """
    user = _user(actor)
    if mine:
        if user is None or not user.is_vendor:
            raise PermissionDeniedError("Only vendors have services of their own.")
        services, every_variant = Service.objects.filter(vendor_id=user.pk), True
    elif user is not None and user.is_admin:
        services, every_variant = Service.objects.all(), True
    else:
        services, every_variant = _public_services(), False
    services = _filtered(_annotated(services), filters)
    if ordering is None:
        ordering = RELEVANCE if filters.search else DEFAULT_ORDERING
    if ordering not in (*ORDERINGS, RELEVANCE) or (ordering == RELEVANCE and not filters.search):
        raise ValueError(f"unknown ordering {ordering!r}")
    if ordering == RELEVANCE:
        ordering = "-" + RELEVANCE
    key, pattern = _position(ordering)
    return ServiceListing(
        services=services.annotate(position=key).prefetch_related(
            _variants_prefetch(every=every_variant)
        ),
        ordering="-position" if ordering.startswith("-") else "position",
        position_pattern=re.compile(pattern),
    )


def _filtered(services: QuerySet[Service], filters: ServiceFilters) -> QuerySet[Service]:
    if filters.category is not None:
        services = services.filter(category=filters.category)
    if filters.vendor_id is not None:
        services = services.filter(vendor_id=filters.vendor_id)
    if filters.is_active is not None:
        services = services.filter(is_active=filters.is_active)
    if filters.min_price is not None:
        services = services.filter(Q(min_price__gte=filters.min_price))
    if filters.max_price is not None:
        services = services.filter(Q(min_price__lte=filters.max_price))
    if filters.in_stock:
        services = services.filter(Q(in_stock=True))
    if filters.search:
        query = SearchQuery(filters.search, search_type="websearch", config=SEARCH_CONFIG)
        services = services.filter(search_vector=query).annotate(
            rank=SearchRank(F("search_vector"), query)
        )
    return services


# --- one service, one variant --------------------------------------------------------------


def _manages(user: User | None, service: Service) -> bool:
    """Whether ``user`` sees ``service`` whole (inactive variants too): admins and its
    vendor (even while inactive: reading is not managing)."""
    return user is not None and (user.is_admin or (user.is_vendor and service.vendor_id == user.pk))


def service_get_for_actor(*, actor: Any, service_id: UUID | str) -> Service:
    """One service as ``actor`` sees it, with ``min_price``, ``in_stock`` and
    ``listed_variants`` (every variant for its vendor or an admin, the active ones for
    anyone else). 404 ``not_found`` if unknown, or not on sale and not the caller's (an
    admin sees all). Two queries."""
    user = _user(actor)
    if user is not None and user.is_admin:
        services = Service.objects.all()
    elif user is not None and user.is_vendor:
        services = Service.objects.filter(Q(vendor_id=user.pk) | Q(pk__in=_public_services()))
    else:
        services = _public_services()
    service = _annotated(services).filter(pk=service_id).first()
    if service is None:
        raise NotFoundError("No such service.")
    variants = Variant.objects.filter(service=service).order_by("price", "id")
    if not _manages(user, service):
        variants = variants.filter(is_active=True)
    service.listed_variants = list(variants)  # type: ignore[attr-defined]
    return service


def variant_list_for_actor(*, actor: Any, service_id: UUID | str) -> list[Variant]:
    """The variants of one service ``actor`` sees (``service_get_for_actor``'s rule and
    404), cheapest first: every one for its vendor or an admin, the active ones otherwise."""
    service = service_get_for_actor(actor=actor, service_id=service_id)
    variants: list[Variant] = service.listed_variants  # type: ignore[attr-defined]
    for variant in variants:
        variant.service = service
    return variants


def variant_get_for_actor(*, actor: Any, service_id: UUID | str, variant_id: UUID | str) -> Variant:
    """One variant of one service as ``actor`` sees it: 404 ``not_found`` if the service
    is not visible (``service_get_for_actor``), if the variant belongs to another service,
    or if it is inactive and the caller is not the vendor or an admin."""
    for variant in variant_list_for_actor(actor=actor, service_id=service_id):
        if str(variant.pk) == str(variant_id):
            return variant
    raise NotFoundError("No such variant.")
