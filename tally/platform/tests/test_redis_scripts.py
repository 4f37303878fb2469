"""Lua scripts run by SHA and survive a Redis that lost its script cache (a restart)."""

from __future__ import annotations

from django_redis import get_redis_connection

from tally.platform.redis_scripts import LuaScript

ECHO_SUM = LuaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")


def test_a_script_runs_by_sha_and_is_loaded_again_after_the_cache_is_flushed() -> None:
    client = get_redis_connection("default")
    key = "tally-test:redis-scripts:counter"
    client.delete(key)
    # the first call loads the script; the server then knows its SHA
    assert ECHO_SUM(client, [key], [2]) == 2
    sha = ECHO_SUM._script.sha if ECHO_SUM._script else ""
    assert client.script_exists(sha) == [True]
    # a restart empties the script cache: the next call still runs (NOSCRIPT → load → run)
    client.script_flush()
    assert client.script_exists(sha) == [False]
    assert ECHO_SUM(client, [key], [3]) == 5
    assert client.script_exists(sha) == [True]
    client.delete(key)
