"""The offers catalog: admins create and change offers; everyone reads the active ones.

Public reads (``offer_list_public``, ``offer_get_public``) are served from Redis and are
never older than the last committed change. Every change bumps one catalog generation
after it commits (``transaction.on_commit``); a reader reads the generation *before* it
reads PostgreSQL and stores what it read under a key naming that generation, so a reader
that raced a change stores under a generation nobody reads any more, and the next read
goes to the database. Entries expire after ``OFFERS_CATALOG_CACHE_SECONDS`` as a last
resort (a bump lost to a Redis fault). With Redis unreachable, reads go to PostgreSQL.
Reads inside a transaction always go to the database and store nothing (that transaction
may have changed the catalog without committing yet).

Cached entries hold field values, not pickled model instances, so a deploy that changes
the model never unpickles an old class.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from tally.identity.models import User
from tally.identity.services import actor_require_admin
from tally.offers.models import Offer
from tally.platform.audit.services import audit_record
from tally.platform.db import use_case
from tally.platform.exceptions import ConflictError, NotFoundError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CACHE_ERRORS = (RedisError, ConnectionInterrupted)
_GENERATION_KEY = "offers:catalog:generation"
# How often offer_update re-reads an offer a concurrent change got to first.
_UPDATE_ATTEMPTS = 3
# The catalog's order: by kind, cheapest first.
CATALOG_ORDERING = ("kind", "price", "name", "id")


@dataclass(frozen=True)
class OfferDraft:
    """A new offer's fields. ``price`` is in minor units of ``currency`` (the deployment's
    currency when None); quotas left None are not part of the offer."""

    name: str
    kind: str
    price: int
    validity_days: int
    currency: str | None = None
    description: str = ""
    data_mb: int | None = None
    voice_minutes: int | None = None
    sms: int | None = None
    tv_channels: int | None = None
    is_active: bool = True


class OfferChanges(TypedDict, total=False):
    """The fields an admin may change on an existing offer (the currency is fixed at
    creation: subscriptions and activations were priced in it)."""

    name: str
    kind: str
    description: str
    price: int
    validity_days: int
    data_mb: int | None
    voice_minutes: int | None
    sms: int | None
    tv_channels: int | None
    is_active: bool


# --- writes -----------------------------------------------------------------------------


def _audit_value(value: Any) -> Any:
    return str(value) if isinstance(value, UUID) else value


@use_case
def offer_create(*, actor: User, draft: OfferDraft) -> Offer:
    """An admin adds an offer to the catalog.

    Guarantees: the offer and its audit row (``offer.created``) commit together; the public
    catalog cache is retired once they commit. Refuses non-admins (403). Locks nothing.
    Enqueues nothing.
    """
    actor_require_admin(actor=actor)
    now = timezone.now()
    offer = Offer.objects.create(
        name=draft.name,
        kind=draft.kind,
        description=draft.description,
        price=draft.price,
        currency=draft.currency or settings.TALLY_CURRENCY,
        validity_days=draft.validity_days,
        data_mb=draft.data_mb,
        voice_minutes=draft.voice_minutes,
        sms=draft.sms,
        tv_channels=draft.tv_channels,
        is_active=draft.is_active,
        created_at=now,
        updated_at=now,
    )
    audit_record(
        actor=actor,
        action="offer.created",
        target=offer,
        changes={
            name: [None, _audit_value(getattr(offer, name))]
            for name in ("name", "kind", "price", "currency", "validity_days", "is_active")
        },
    )
    offer_catalog_invalidate_on_commit()
    return offer


@use_case
def offer_update(*, actor: User, offer: Offer, changes: OfferChanges) -> Offer:
    """An admin changes an offer (deactivating it is ``is_active=False``).

    Guarantees: only the fields that really change are written, with an ``offer.updated``
    audit row of ``[old, new]`` pairs in the same transaction; a request that changes
    nothing writes nothing. Concurrent changes of one offer are refereed by a conditional
    update on ``updated_at`` (no row lock): a change that lost the race re-reads the offer
    and applies its fields to what the winner wrote, so no audit row shows a stale old
    value; after repeated losses it is 409 ``conflict``. Activations already accepted keep
    the price they reserved. The public catalog cache is retired once it commits. Refuses
    non-admins (403). Enqueues nothing.
    """
    actor_require_admin(actor=actor)
    for _ in range(_UPDATE_ATTEMPTS):
        current = Offer.objects.filter(pk=offer.pk).first()
        if current is None:
            raise NotFoundError("No such offer.")
        changed = {
            name: [_audit_value(getattr(current, name)), _audit_value(value)]
            for name, value in changes.items()
            if getattr(current, name) != value
        }
        if not changed:
            return current
        now = timezone.now()
        written = Offer.objects.filter(pk=current.pk, updated_at=current.updated_at).update(
            **{name: changes[name] for name in changed},  # type: ignore[literal-required]
            updated_at=now,
        )
        if written:
            for name in changed:
                setattr(current, name, changes[name])  # type: ignore[literal-required]
            current.updated_at = now
            audit_record(actor=actor, action="offer.updated", target=current, changes=changed)
            offer_catalog_invalidate_on_commit()
            return current
    raise ConflictError("The offer changed while it was being updated; try again.")


def offer_catalog_invalidate_on_commit() -> None:
    """Retire every cached catalog read once the caller's transaction commits (nothing if
    it rolls back: nothing changed)."""
    transaction.on_commit(_generation_bump, robust=True)


def _generation_bump() -> None:
    try:
        cache.add(_GENERATION_KEY, 0, timeout=None)
        cache.incr(_GENERATION_KEY)
    except _CACHE_ERRORS:
        logger.warning(
            "offers catalog cache unreachable; entries expire on their own", exc_info=True
        )


# --- cached public reads -----------------------------------------------------------------


def _offer_values(offer: Offer) -> dict[str, Any]:
    return {field.attname: getattr(offer, field.attname) for field in Offer._meta.concrete_fields}


def _offer_from(values: dict[str, Any]) -> Offer:
    return Offer.from_db(None, list(values), list(values.values()))


def _read_through(
    name: str, load: Callable[[], T], *, dump: Callable[[T], Any], restore: Callable[[Any], T]
) -> T:
    if connection.in_atomic_block:
        return load()
    try:
        generation = cache.get(_GENERATION_KEY, 0)
        key = f"offers:catalog:{generation}:{name}"
        cached = cache.get(key)
    except _CACHE_ERRORS:
        return load()
    if cached is not None:
        return restore(cached)
    value = load()
    with contextlib.suppress(*_CACHE_ERRORS):
        cache.set(key, dump(value), timeout=_cache_seconds())
    return value


def _active_offers(kind: str | None) -> list[Offer]:
    offers = Offer.objects.filter(is_active=True)
    if kind is not None:
        offers = offers.filter(kind=kind)
    return list(offers.order_by(*CATALOG_ORDERING))


def offer_list_public(*, kind: str | None = None) -> list[Offer]:
    """The active offers (of ``kind`` when given), by kind then cheapest first: the whole
    public catalog, from the cache when current."""
    return _read_through(
        f"list:{kind or '*'}",
        lambda: _active_offers(kind),
        dump=lambda offers: [_offer_values(offer) for offer in offers],
        restore=lambda rows: [_offer_from(values) for values in rows],
    )


def offer_get_public(*, offer_id: UUID) -> Offer:
    """One active offer, from the cache when current; 404 ``not_found`` for an unknown or
    inactive offer (misses are not cached)."""

    def load() -> Offer:
        offer = Offer.objects.filter(pk=offer_id, is_active=True).first()
        if offer is None:
            raise NotFoundError("No such offer.")
        return offer

    return _read_through(f"offer:{offer_id}", load, dump=_offer_values, restore=_offer_from)


# --- admin reads ----------------------------------------------------------------------


def offer_list_for_actor(*, actor: User | None, kind: str | None = None) -> list[Offer]:
    """The catalog as ``actor`` sees it: admins every offer, read fresh (inactive ones
    too, to change them); anyone else (signed in or not) the cached public catalog."""
    if actor is not None and actor.is_admin:
        offers = Offer.objects.all()
        if kind is not None:
            offers = offers.filter(kind=kind)
        return list(offers.order_by(*CATALOG_ORDERING))
    return offer_list_public(kind=kind)


def offer_get_for_actor(*, actor: User | None, offer_id: UUID) -> Offer:
    """One offer as ``actor`` sees it: admins any offer, read fresh; anyone else an active
    one from the cache. 404 ``not_found`` otherwise."""
    if actor is not None and actor.is_admin:
        offer = Offer.objects.filter(pk=offer_id).first()
        if offer is None:
            raise NotFoundError("No such offer.")
        return offer
    return offer_get_public(offer_id=offer_id)


def _cache_seconds() -> int:
    return int(getattr(settings, "OFFERS_CATALOG_CACHE_SECONDS", 300))
