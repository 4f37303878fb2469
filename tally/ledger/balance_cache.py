"""Read cache for owned accounts' balances (balance, pending debits), in Redis.

Never older than the last committed write: every balance change bumps the account's
generation after it commits (``balance_cache_invalidate_on_commit``), and a reader stores what
it read tagged with the generation it saw before reading the database, and a cached value
is served only while its tag is still the current generation. (The store itself is
conditional too, in one Lua call, so a slow reader doesn't clobber a current entry.) So a reader that raced a writer simply doesn't cache; the next read goes to
PostgreSQL. Entries expire after ``LEDGER_BALANCE_CACHE_SECONDS`` as a last resort (a bump
lost to a Redis fault). With Redis unreachable, reads go to PostgreSQL.

Only reads outside a transaction use it (inside one, reads go to PostgreSQL and are not
stored); a use case that needs the balance it just changed reads its own transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import connection, transaction
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from tally.platform.redis_scripts import LuaScript

logger = logging.getLogger(__name__)

_STORE_IF_CURRENT = LuaScript("""
local generation = redis.call('GET', KEYS[1]) or '0'
if generation == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
""")
# Bump each account's generation and drop its cached value: KEYS are (generation, value)
# pairs. One command, atomic like the MULTI/EXEC it replaces, with fewer replies to parse.
_INVALIDATE = LuaScript("""
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('DEL', KEYS[i + 1])
end
return #KEYS / 2
""")


def _keys(account_id: int) -> tuple[str, str]:
    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', 'tally')}:ledger:balance:{account_id}"
    return f"{prefix}:generation", f"{prefix}:value"


def balance_cache_invalidate(*, account_ids: Sequence[int]) -> None:
    """Bump the accounts' generations now, in one Redis round trip. Call it only after the
    change committed (``balance_cache_invalidate_on_commit``, or the posting core's own
    after-commit hook); a Redis fault is logged and left to the entries' expiry."""
    try:
        keys = [key for account_id in account_ids for key in _keys(account_id)]
        _INVALIDATE(get_redis_connection("default"), keys)
    except RedisError:
        logger.warning("balance cache unreachable; entry expires on its own", exc_info=True)


def balance_cache_invalidate_on_commit(*, account_id: int) -> None:
    """Make every cached balance of the account stale once this transaction commits.

    One bump after commit is enough: until then every reader sees the old committed value,
    and the bump retires whatever was cached from it, including a store racing the bump (the
    store is conditional on the generation it read). A transaction that rolls back changed
    nothing, so it bumps nothing. Within the changing transaction, code reads its own
    transaction (``selectors.account_balance``), never the cache.
    """
    transaction.on_commit(lambda: balance_cache_invalidate(account_ids=(account_id,)), robust=True)


def balance_cache_read_through(
    *, account_id: int, load: Callable[[], tuple[int, int]]
) -> tuple[int, int]:
    """(balance, pending) of an owned account: from the cache when current, else ``load()``.

    Inside a transaction it always loads and never stores: that transaction may have
    changed the balance without committing (its bump comes at commit), and what it reads
    must neither be stale to it nor be cached for others before it commits.
    """
    if connection.in_atomic_block:
        return load()
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
        _STORE_IF_CURRENT(
            redis,
            [generation_key, value_key],
            [generation, f"{balance}:{pending}", settings.LEDGER_BALANCE_CACHE_SECONDS],
        )
    return balance, pending
