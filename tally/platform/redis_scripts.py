"""Lua scripts run by their SHA-1 (``EVALSHA``): the script's text crosses the network once
per Redis server, not on every call, and Redis does not hash it again each time. A server
that lost its script cache (a restart) answers ``NOSCRIPT``, and the script is loaded again
and run (redis-py's :class:`redis.commands.core.Script`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.commands.core import Script


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self._script: Script | None = None

    def __call__(self, client: Redis, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        if self._script is None:
            self._script = client.register_script(self.source)
        return self._script(keys=list(keys), args=list(args), client=client)
