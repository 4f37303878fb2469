"""A tiny real HTTP server standing in for an outside system (a provisioner, a gateway),
for call-out tests: it applies each ``Idempotency-Key`` once, records every call, and can
stall a call (to crash the caller mid-call) or fail the next ones::

    with outside_system_run() as outside:
        outside.stall_next_call()
        ...                                   # the job calls f"{outside.url}/calls"
        outside.wait_for_stalled_call()       # the call is in flight now
        outside.release()
        assert outside.effects == {"outbox-7": "ext-1"}
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tally.platform.testing.race import DEFAULT_TIMEOUT_SECONDS, wait_until


class OutsideSystem:
    def __init__(self) -> None:
        self.url = ""
        # Every call received, in order: the Idempotency-Key it carried (or "").
        self.calls: list[str] = []
        # What each key's first call produced: the only effect the key ever has.
        self.effects: dict[str, str] = {}
        self.failures_left = 0
        self._stall = False
        self._stalled = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()

    def stall_next_call(self) -> None:
        """Hold the next call open (after applying its effect) until :meth:`release`."""
        self._stall = True
        self._stalled.clear()
        self._release.clear()

    def wait_for_stalled_call(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        wait_until(self._stalled.is_set, timeout_seconds=timeout_seconds, message="no call came")

    def release(self) -> None:
        self._release.set()

    def fail_next_calls(self, count: int) -> None:
        """Answer the next ``count`` calls 503, applying nothing."""
        self.failures_left = count

    def _handle(self, key: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(key)
            if self.failures_left > 0:
                self.failures_left -= 1
                return 503, {"error": "unavailable"}
            if key not in self.effects:
                self.effects[key] = f"ext-{len(self.effects) + 1}"
            reference = self.effects[key]
            stall, self._stall = self._stall, False
        if stall:
            self._stalled.set()
            self._release.wait(DEFAULT_TIMEOUT_SECONDS * 4)
        return 200, {"reference": reference}


@contextlib.contextmanager
def outside_system_run() -> Iterator[OutsideSystem]:
    """Serve an :class:`OutsideSystem` on a free loopback port (``POST /calls``)."""
    system = OutsideSystem()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, body = system._handle(self.headers.get("Idempotency-Key") or "")
            payload = json.dumps(body).encode()
            with contextlib.suppress(OSError):  # the caller may have died meanwhile
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    system.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="outside-system", daemon=True)
    thread.start()
    try:
        yield system
    finally:
        system.release()
        server.shutdown()
        server.server_close()
