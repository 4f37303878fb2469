"""The Redis counter of each limited variant's units: a fast "sold out" before PostgreSQL.

PostgreSQL decides every reservation (``tally.catalog.stock``); this counter only spares
the database the requests it would refuse anyway. It follows the seed's two-layer design:

- ``stock_counter_take`` atomically checks and takes ``quantity`` units from the counter
  (one Lua script). ``SOLD_OUT``: fewer units are left than asked for, refuse the order
  without touching the database. ``TAKEN``: go on to the database. ``UNKNOWN``: the counter
  is missing (first use, expired, Redis restarted) and could not be rebuilt, or Redis is
  unreachable: go on to the database, which decides alone (slower, never wrong).
- A missing counter is rebuilt from the database's stock (``SET … NX``, so concurrent
  rebuilders agree) with a time to live (``CATALOG_STOCK_COUNTER_SECONDS``).
- Units taken for an order that then failed (the database refused, or anything else rolled
  it back) are given back (``stock_counter_give_back``); units of a cancelled or expired
  order are given back after its release commits. A give-back never creates a counter (a
  missing one is rebuilt from the database instead).
- When the database refuses a reservation the counter allowed, the counter was high: it is
  dropped (``stock_counter_forget``) and rebuilt from the database by the next reader. A
  vendor's change of a variant's stock drops it too.

The counter can err high (a rebuild racing uncommitted reservations): the database then
refuses and the counter is dropped. It can err low only if a process dies between taking
units and giving them back: its time to live bounds how long a variant may look sold out
while the database still has units. Losing Redis loses no stock and sells no extra unit.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from uuid import UUID

import redis
from django.conf import settings
from redis.exceptions import RedisError

from tally.catalog import metrics

logger = logging.getLogger(__name__)

# Returns -2: no counter; -1: fewer than ARGV[1] units; else the units left after taking.
_TAKE_SCRIPT = """
local left = redis.call('GET', KEYS[1])
if not left then return -2 end
left = tonumber(left)
local wanted = tonumber(ARGV[1])
if left < wanted then return -1 end
return redis.call('DECRBY', KEYS[1], wanted)
"""
# Gives units back only to a counter that exists (a missing one is rebuilt from the database).
_GIVE_BACK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return -1
"""

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


class Take(enum.Enum):
    TAKEN = "taken"
    SOLD_OUT = "sold_out"
    UNKNOWN = "unknown"


def _client() -> redis.Redis:
    url = str(getattr(settings, "CATALOG_STOCK_REDIS_URL", "") or settings.REDIS_URL)
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            timeout = float(getattr(settings, "CATALOG_STOCK_REDIS_TIMEOUT_SECONDS", 0.5))
            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            _clients[url] = client
        return client


def _key(variant_id: UUID | str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "tally")
    return f"{prefix}:catalog:stock:{variant_id}"


def _ttl_seconds() -> int:
    return int(getattr(settings, "CATALOG_STOCK_COUNTER_SECONDS", 300))


def _unreachable(action: str) -> None:
    metrics.STOCK_COUNTER_UNAVAILABLE.labels(action=action).inc()
    logger.warning("stock counter unreachable (%s); the database decides alone", action)


def stock_counter_take(
    *, variant_id: UUID | str, quantity: int, rebuild_from: Callable[[], int | None]
) -> Take:
    """Take ``quantity`` units from the variant's counter (see the module's docstring).

    ``rebuild_from`` reads the variant's stock from the database (None: unlimited or gone);
    it is called only when the counter is missing.
    """
    key = _key(variant_id)
    try:
        client = _client()
        left = int(client.eval(_TAKE_SCRIPT, 1, key, quantity))
        if left == -2:
            stock = rebuild_from()
            if stock is None:
                return Take.UNKNOWN
            client.set(key, stock, nx=True, ex=_ttl_seconds())
            metrics.STOCK_COUNTER_REBUILDS.inc()
            left = int(client.eval(_TAKE_SCRIPT, 1, key, quantity))
    except RedisError:
        _unreachable("take")
        return Take.UNKNOWN
    if left == -2:
        return Take.UNKNOWN
    if left == -1:
        return Take.SOLD_OUT
    return Take.TAKEN


def stock_counter_give_back(*, variant_id: UUID | str, quantity: int) -> None:
    """Return ``quantity`` units to the variant's counter, if it exists."""
    try:
        _client().eval(_GIVE_BACK_SCRIPT, 1, _key(variant_id), quantity)
    except RedisError:
        _unreachable("give_back")


def stock_counter_forget(*, variant_id: UUID | str) -> None:
    """Drop the variant's counter: the next reader rebuilds it from the database."""
    try:
        _client().delete(_key(variant_id))
    except RedisError:
        _unreachable("forget")


def stock_counter_peek(*, variant_id: UUID | str) -> int | None:
    """The counter's value (None: missing or unreachable). For tests and the admin."""
    try:
        raw = _client().get(_key(variant_id))
    except RedisError:
        return None
    return None if raw is None else int(raw)
