"""Row locks of the catalog: the only place the catalog writes ``select_for_update``.

Each helper locks only its own table's row (``of=("self",)``), so the vendor profile and
user rows are never locked here. A change that touches a service and its variants locks
the service first, then the variant: always in that order. Stock reservations
(``tally.catalog.stock``) take variant row locks through their conditional updates, so a
locked variant also waits for, or holds off, an order reserving its units.
"""

from __future__ import annotations

from uuid import UUID

from tally.catalog.models import Service, Variant
from tally.platform.exceptions import NotFoundError


def service_lock(*, service_id: UUID | str) -> Service:
    """Lock one service row (its vendor loaded, not locked); 404 if it is gone."""
    service = (
        Service.objects.select_for_update(of=("self",))
        .select_related("vendor")
        .filter(pk=service_id)
        .first()
    )
    if service is None:
        raise NotFoundError("No such service.")
    return service


def variant_lock(*, variant_id: UUID | str) -> Variant:
    """Lock one variant row (its service and vendor loaded, not locked); 404 if it is gone."""
    variant = (
        Variant.objects.select_for_update(of=("self",))
        .select_related("service__vendor")
        .filter(pk=variant_id)
        .first()
    )
    if variant is None:
        raise NotFoundError("No such variant.")
    return variant
