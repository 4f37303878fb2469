"""Read cache for owned accounts' balances (balance, pending debits), in Redis.

Never older than the last committed write: every balance change bumps the account's
generation when it is made and again after commit (``balance_cache_invalidate_on_commit``), and a reader stores what
it read tagged with the generation it saw before reading the database, and a cached value
is served only while its tag is still the current generation. (The store itself is
conditional too, in one Lua call, so a slow reader doesn't clobber a current entry.) So a reader that raced a writer simply doesn't cache; the next read goes to
PostgreSQL. Entries expire after ``LEDGER_BALANCE_CACHE_SECONDS`` as a last resort (a bump
lost to a Redis fault). With Redis unreachable, reads go to PostgreSQL.

Only reads outside a money transaction use it; a use case that needs the balance it just
changed reads its own transaction (``selectors.account_balance``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django_redis import get_redis_connection
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_STORE_IF_CURRENT = """
local generation = redis.call('GET', KEYS[1]) or '0'
if generation == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


def _keys(account_id: int) -> tuple[str, str]:
    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', 'tally')}:ledger:balance:{account_id}"
    return f"{prefix}:generation", f"{prefix}:value"


def _bump(account_id: int) -> None:
    generation_key, value_key = _keys(account_id)
    try:
        pipe = get_redis_connection("default").pipeline()
        pipe.incr(generation_key)
        pipe.delete(value_key)
        pipe.execute()
    except RedisError:
        logger.warning("balance cache unreachable; entry expires on its own", exc_info=True)


def balance_cache_invalidate_on_commit(*, account_id: int) -> None:
    """Make every cached balance of the account stale, now and again after commit.

    The bump after commit retires anything a reader cached in between (it read the old,
    committed value); the bump now also covers code that reads inside the same transaction
    and a transaction that never commits (a rolled-back change only costs a cache miss).
    """
    _bump(account_id)
    transaction.on_commit(lambda: _bump(account_id), robust=True)


def balance_cache_read_through(
    *, account_id: int, load: Callable[[], tuple[int, int]]
) -> tuple[int, int]:
    """(balance, pending) of an owned account: from the cache when current, else ``load()``."""
    generation_key, value_key = _keys(account_id)
    try:
        redis = get_redis_connection("default")
        generation, cached = redis.mget(generation_key, value_key)
    except RedisError:
        return load()
    generation = (generation or b"0").decode()
    if cached is not None:
        cached_generation, balance, pending = cached.decode().split(":")
        if cached_generation == generation:
            return int(balance), int(pending)
    balance, pending = load()
    with contextlib.suppress(RedisError):
        redis.eval(
            _STORE_IF_CURRENT,
            2,
            generation_key,
            value_key,
            generation,
            f"{balance}:{pending}",
            settings.LEDGER_BALANCE_CACHE_SECONDS,
        )
    return balance, pending
