"""The live status of in-flight activations, in Redis, for fast ``GET activations/{id}/``.

The database is the truth; Redis only spares in-flight polls a database read. Each status
change of an activation is recorded here (``live_status_record``): pending when accepted
and processing when a worker claims it, once their transaction commits; a final marker
when it settles, written *before* the settle commits. A reader serves only a pending or
processing entry and reads the database for anything else (a final marker, a missing
entry, Redis down). A final marker only ever sends readers to the database, so writing it
early is safe even if the settle rolls back, and it closes the window in which the
database already says "succeeded" while Redis still says "processing".

Writes only move forward (pending < processing < final, one Lua call), so a late write
(the request's "pending" landing after the worker already settled) can never hide a final
state behind a stale in-flight one. Entries expire after ``OFFERS_LIVE_STATUS_SECONDS`` as
a last resort. Losing Redis loses nothing: every read falls back to PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from tally.offers.models import Activation, ActivationStatus

logger = logging.getLogger(__name__)

_RANK = {
    ActivationStatus.PENDING: 1,
    ActivationStatus.PROCESSING: 2,
    ActivationStatus.SUCCEEDED: 3,
    ActivationStatus.FAILED: 3,
}
IN_FLIGHT = (ActivationStatus.PENDING, ActivationStatus.PROCESSING)

_WRITE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local rank = tonumber(string.match(current, '^(%d+)|'))
  if rank and rank >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


@dataclass(frozen=True)
class ActivationStatusView:
    """What ``GET activations/{id}/`` shows, from Redis (in flight) or the database."""

    id: UUID
    reference: str
    status: str
    source: str
    customer_id: UUID
    offer_id: UUID
    subscription_id: UUID
    amount: int  # minor units of ``currency``
    currency: str
    created_at: datetime
    completed_at: datetime | None = None
    provider_reference: str = ""
    failure_code: str = ""
    failure_detail: str = ""
    # Where the answer came from: "live" (Redis, in flight) or "database".
    served_from: str = "database"

    @property
    def is_final(self) -> bool:
        return self.status not in IN_FLIGHT


def activation_status_view(activation: Activation) -> ActivationStatusView:
    """The view of an activation as stored in the database."""
    return ActivationStatusView(
        id=activation.id,
        reference=activation.reference,
        status=activation.status,
        source=activation.source,
        customer_id=activation.customer_id,
        offer_id=activation.offer_id,
        subscription_id=activation.subscription_id,
        amount=activation.amount,
        currency=activation.offer.currency,
        created_at=activation.created_at,
        completed_at=activation.completed_at,
        provider_reference=activation.provider_reference,
        failure_code=activation.failure_code,
        failure_detail=activation.failure_detail,
    )


def _key(activation_id: UUID | str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "tally")
    return f"{prefix}:offers:activation:{activation_id}"


def _encode(view: ActivationStatusView) -> str:
    data = asdict(view)
    for name in ("id", "customer_id", "offer_id", "subscription_id"):
        data[name] = str(data[name])
    for name in ("created_at", "completed_at"):
        data[name] = None if data[name] is None else data[name].isoformat()
    del data["served_from"]
    return json.dumps(data, separators=(",", ":"))


def _decode(raw: str) -> ActivationStatusView:
    data: dict[str, Any] = json.loads(raw)
    for name in ("id", "customer_id", "offer_id", "subscription_id"):
        data[name] = UUID(data[name])
    for name in ("created_at", "completed_at"):
        data[name] = None if data[name] is None else datetime.fromisoformat(data[name])
    return ActivationStatusView(**data, served_from="live")


def live_status_write(view: ActivationStatusView) -> bool:
    """Store ``view`` unless Redis already holds a later state; False if it did not (or
    Redis is unreachable: the database still answers)."""
    try:
        stored = get_redis_connection("default").eval(
            _WRITE_IF_NEWER,
            1,
            _key(view.id),
            _RANK[ActivationStatus(view.status)],
            _encode(view),
            int(settings.OFFERS_LIVE_STATUS_SECONDS),
        )
    except RedisError:
        logger.warning("activation live status unreachable; reads use the database", exc_info=True)
        return False
    return bool(stored)


def live_status_record(*, activation: Activation) -> None:
    """Record the activation's current status in Redis; call right after each status
    change. An in-flight status is written once this transaction commits (a rollback writes
    nothing); a final one at once, before the commit (see the module docstring)."""
    view = activation_status_view(activation)
    if view.is_final:
        live_status_write(view)
    else:
        transaction.on_commit(lambda: live_status_write(view), robust=True)


def live_status_read(*, activation_id: UUID | str) -> ActivationStatusView | None:
    """The in-flight status of an activation from Redis, or None: not cached, final
    (the database answers for final states), unreadable, or Redis unreachable."""
    try:
        raw = get_redis_connection("default").get(_key(activation_id))
    except RedisError:
        logger.warning("activation live status unreachable; reading the database", exc_info=True)
        return None
    if raw is None:
        return None
    try:
        _, payload = raw.decode().split("|", 1)
        view = _decode(payload)
    except (ValueError, TypeError, KeyError):
        logger.warning("unreadable activation live status", extra={"key": _key(activation_id)})
        return None
    return None if view.is_final else view
