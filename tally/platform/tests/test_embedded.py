"""The embedded development servers start once, are shared, and stop without orphans."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
import redis

from config.env import database_config
from tally.platform.embedded import (
    _postgres_pid,
    _redis_state,
    ensure_servers,
    stop_servers,
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(120)
def test_start_attach_and_stop_leave_no_process(tmp_path: Path) -> None:
    # given: a fresh folder, as on a fresh clone
    var_dir = tmp_path / "var"

    # when: one process starts the servers and a second attaches
    first = ensure_servers(var_dir, stop_at_exit=False)
    second = ensure_servers(var_dir, stop_at_exit=False)

    # then: both reach the same working servers, started only once
    assert (first.started_postgres, first.started_redis) == (True, True)
    assert (second.started_postgres, second.started_redis) == (False, False)
    assert (second.database_url, second.redis_url) == (first.database_url, first.redis_url)
    config = database_config(first.database_url)
    with psycopg.connect(host=config["HOST"], dbname=config["NAME"], user=config["USER"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert redis.Redis.from_url(first.redis_url).ping() is True
    postgres_pid = _postgres_pid(var_dir / "postgres")
    redis_state = _redis_state(var_dir / "redis")
    assert postgres_pid is not None
    assert redis_state is not None

    # when: stopped
    stop_servers(var_dir)

    # then: no server process is left
    assert not _alive(postgres_pid)
    assert not _alive(redis_state["pid"])
    assert _postgres_pid(var_dir / "postgres") is None
    assert _redis_state(var_dir / "redis") is None
