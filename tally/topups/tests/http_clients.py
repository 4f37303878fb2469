"""Plain HTTP clients for tests that run them in other processes (multiprocessing "spawn").

Nothing here imports Django, so a spawned child starts fast and needs no settings; it only
talks HTTP to a live server (``tally.platform.testing.live_server``).
"""

from __future__ import annotations

from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import httpx

TIMEOUT_SECONDS = 60.0


def post_json_many(
    *,
    barrier: Barrier,
    results: Queue[list[tuple[int, Any]]],
    url: str,
    headers: dict[str, str],
    bodies: list[dict[str, Any]],
) -> None:
    """Wait for every sibling process, then POST each body in turn; put the
    ``(status, json body)`` pairs on ``results``."""
    outcomes: list[tuple[int, Any]] = []
    with httpx.Client(headers=headers, timeout=TIMEOUT_SECONDS) as client:
        barrier.wait(timeout=TIMEOUT_SECONDS)
        for body in bodies:
            response = client.post(url, json=body)
            outcomes.append((response.status_code, response.json()))
    results.put(outcomes)
