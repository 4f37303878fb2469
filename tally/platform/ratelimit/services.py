"""Redis-backed rate limits per caller and route class.

A fixed one-window counter per (route class, caller): one atomic Lua call (INCR, and EXPIRE
on the first hit) per request, so concurrent requests can't both see a stale count. When
Redis is unreachable, limits fail open: they protect capacity, not money (PostgreSQL
guards every balance), and refusing all traffic would turn a cache fault into an outage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from tally.platform.api_metrics import RATE_LIMITED
from tally.platform.redis_scripts import LuaScript

logger = logging.getLogger(__name__)

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}

_HIT_SCRIPT = LuaScript("""
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
return {count, ttl}
""")


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


def rate_parse(value: str | None) -> Rate | None:
    """``"60/min"`` → Rate(60, 60); ``None``, ``""`` or ``"off"`` → no limit."""
    if not value or value.strip().lower() == "off":
        return None
    count, _, period = value.partition("/")
    number = ""
    while period and period[0].isdigit():
        number += period[0]
        period = period[1:]
    return Rate(
        limit=int(count), window_seconds=int(number or 1) * _PERIODS[period.strip().lower()]
    )


def rate_for(route_class: str) -> Rate | None:
    return rate_parse(settings.TALLY_RATE_LIMITS.get(route_class))


def ratelimit_hit(*, route_class: str, caller: str) -> Decision | None:
    """Count one request of ``caller`` in ``route_class``; None when unlimited or Redis is down."""
    rate = rate_for(route_class)
    if rate is None:
        return None
    window = int(time.time()) // rate.window_seconds
    key = f"{settings.CACHES['default'].get('KEY_PREFIX', 'tally')}:rl:{route_class}:{caller}:{window}"
    try:
        count, ttl = _HIT_SCRIPT(get_redis_connection("default"), [key], [rate.window_seconds])
    except RedisError:
        logger.warning("rate limit store unreachable; allowing request", exc_info=True)
        return None
    count, ttl = int(count), int(ttl)
    if count > rate.limit:
        RATE_LIMITED.labels(route_class).inc()
    return Decision(
        allowed=count <= rate.limit,
        limit=rate.limit,
        remaining=max(0, rate.limit - count),
        reset_seconds=max(1, ttl if ttl > 0 else rate.window_seconds),
    )
