"""Test helpers for partner callbacks: a real local HTTP server standing in for a partner's
callback endpoint, and the signature check exactly as docs/partners.md tells partners to do
it. Imported by tests only::

    with partner_server_run() as server:
        server.fail_next_calls(2)            # answer 500 twice, then 200
        ...                                  # Tally POSTs to server.url
        server.wait_for_calls(3)
        assert signature_valid(secret, server.calls[2].signature, server.calls[2].body)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tally.platform.testing.race import DEFAULT_TIMEOUT_SECONDS, wait_until

CALLBACK_PATH = "/callbacks/tally"


@dataclass(frozen=True)
class ReceivedCall:
    path: str
    body: bytes
    signature: str
    delivery: str
    content_type: str
    # What the server answered.
    status: int


class PartnerServer:
    """Records every callback received, and answers 200 unless told to fail."""

    def __init__(self) -> None:
        self.base_url = ""
        self.calls: list[ReceivedCall] = []
        self.failures_left = 0
        self.always_fail = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The callback URL to give the partner."""
        return f"{self.base_url}{CALLBACK_PATH}"

    def fail_next_calls(self, count: int) -> None:
        """Answer the next ``count`` calls 500."""
        self.failures_left = count

    def wait_for_calls(
        self, count: int, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        wait_until(
            lambda: len(self.calls) >= count,
            timeout_seconds=timeout_seconds,
            message=f"{len(self.calls)} of {count} callbacks came",
        )

    def _handle(self, call: dict[str, Any]) -> int:
        with self._lock:
            failing = self.always_fail or self.failures_left > 0
            if self.failures_left > 0:
                self.failures_left -= 1
            status = 500 if failing else 200
            self.calls.append(ReceivedCall(status=status, **call))
            return status


@contextlib.contextmanager
def partner_server_run() -> Iterator[PartnerServer]:
    """Serve a :class:`PartnerServer` on a free loopback port."""
    server_state = PartnerServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = server_state._handle(
                {
                    "path": self.path,
                    "body": body,
                    "signature": self.headers.get("X-Tally-Signature") or "",
                    "delivery": self.headers.get("X-Tally-Delivery") or "",
                    "content_type": self.headers.get("Content-Type") or "",
                }
            )
            payload = b"{}"
            with contextlib.suppress(OSError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="partner-server", daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()


def signature_valid(
    secret: str, header: str, body: bytes, *, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """The partner's check from docs/partners.md, written independently of Tally's signer:
    parse ``t=…,v1=…``, refuse a stale timestamp, compare HMAC-SHA256(secret, f"{t}.{body}")
    in constant time."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
        received = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, received)
