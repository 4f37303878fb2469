"""A provisioning provider simulator: a real HTTP server speaking the protocol of
``tally/offers/provisioning.py``, for development, the bench and tests.

Each ``Idempotency-Key`` is applied once: a repeated key gets the first final answer again
(a 503 applies nothing). Every call waits ``latency_ms`` first; then a share
``failure_rate`` of calls answer 503 (transient: Tally retries) and a share ``reject_rate``
are refused for good (422 ``provider_rejected``). Tests steer single calls on top::

    with provider_simulator_run(latency_ms=0, failure_rate=0) as provider:
        provider.fail_next(2)            # the next two calls answer 503
        provider.reject_next(1)          # the next call is refused (422)
        provider.stall_next(seconds=3)   # the next call is applied, then answers late
        ...                              # OFFERS_PROVIDER_URL = provider.url
        assert provider.activated == {"outbox-7": "PRV-1"}

Run it on its own (``make run`` does)::

    python -m tally.offers.provider_simulator   # OFFERS_PROVIDER_SIMULATOR_* settings
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tally.platform.local_server import loopback_server, serving_in_thread

logger = logging.getLogger(__name__)

ACTIVATIONS_PATH = "/v1/activations"


class ProviderSimulator:
    def __init__(
        self,
        *,
        latency_ms: int = 0,
        failure_rate: float = 0.0,
        reject_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.url = ""
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self.reject_rate = reject_rate
        # Every call received, in order: the Idempotency-Key it carried.
        self.calls: list[str] = []
        # Keys the simulator activated, with its reference for each (applied once).
        self.activated: dict[str, str] = {}
        # Keys it refused for good, with the refusal code.
        self.rejected: dict[str, str] = {}
        self._fail_next = 0
        self._reject_next = 0
        self._stall_next: list[float] = []
        self._random = random.Random(seed)  # noqa: S311  # nosec B311  # a simulation, not security
        self._lock = threading.Lock()

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` calls 503, applying nothing."""
        with self._lock:
            self._fail_next = count

    def reject_next(self, count: int) -> None:
        """Refuse the next ``count`` new keys for good (422 provider_rejected)."""
        with self._lock:
            self._reject_next = count

    def stall_next(self, *, seconds: float, count: int = 1) -> None:
        """Apply each of the next ``count`` calls, then answer only after ``seconds``."""
        with self._lock:
            self._stall_next = [seconds] * count

    def answer(self, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """(status, body, seconds to wait before answering) for one call."""
        with self._lock:
            self.calls.append(key)
            stall = self._stall_next.pop(0) if self._stall_next else 0.0
            if not key:
                return 400, {"status": "rejected", "code": "idempotency_key_missing"}, stall
            if key in self.activated:
                return 200, self._activated(key), stall
            if key in self.rejected:
                return 422, self._rejected(key), stall
            if self._fail_next > 0:
                self._fail_next -= 1
                return 503, {"error": "unavailable"}, stall
            if self._reject_next > 0:
                self._reject_next -= 1
                self.rejected[key] = "provider_rejected"
                return 422, self._rejected(key), stall
            roll = self._random.random()
            if roll < self.failure_rate:
                return 503, {"error": "unavailable"}, stall
            if roll < self.failure_rate + self.reject_rate:
                self.rejected[key] = "provider_rejected"
                return 422, self._rejected(key), stall
            self.activated[key] = f"PRV-{len(self.activated) + 1}"
            return 200, self._activated(key), stall

    def _activated(self, key: str) -> dict[str, Any]:
        return {"status": "activated", "provider_reference": self.activated[key]}

    def _rejected(self, key: str) -> dict[str, Any]:
        return {
            "status": "rejected",
            "code": self.rejected[key],
            "detail": "The provider refused to activate this offer for this line.",
        }


def _handler(simulator: ProviderSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != ACTIVATIONS_PATH:
                self._send(404, {"error": "not found"})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, {"status": "rejected", "code": "bad_request"})
                return
            time.sleep(simulator.latency_ms / 1000)
            status, answer, stall = simulator.answer(
                self.headers.get("Idempotency-Key") or "", body if isinstance(body, dict) else {}
            )
            if stall:
                time.sleep(stall)
            self._send(status, answer)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            with contextlib.suppress(OSError):  # the caller may have given up meanwhile
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("provider simulator: " + format, *args)

    return Handler


def provider_simulator_server(
    simulator: ProviderSimulator, *, host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """A server for ``simulator`` bound to ``host:port`` (0: a free port); sets its url."""
    server, simulator.url = loopback_server(_handler(simulator), host=host, port=port)
    return server


@contextlib.contextmanager
def provider_simulator_run(**options: Any) -> Iterator[ProviderSimulator]:
    """Serve a :class:`ProviderSimulator` on a free loopback port, in a thread."""
    simulator = ProviderSimulator(**options)
    with serving_in_thread(provider_simulator_server(simulator), name="provider-simulator"):
        yield simulator


def main() -> None:
    """Serve the simulator in the foreground with the OFFERS_PROVIDER_SIMULATOR_* settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.local")
    import django
    from django.conf import settings

    django.setup()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s provider %(message)s")
    simulator = ProviderSimulator(
        latency_ms=settings.OFFERS_PROVIDER_SIMULATOR_LATENCY_MS,
        failure_rate=settings.OFFERS_PROVIDER_SIMULATOR_FAILURE_RATE,
        reject_rate=settings.OFFERS_PROVIDER_SIMULATOR_REJECT_RATE,
    )
    server = provider_simulator_server(simulator, port=settings.OFFERS_PROVIDER_SIMULATOR_PORT)
    logger.info(
        "provider simulator on %s (latency %d ms, failure rate %.2f, reject rate %.2f)",
        simulator.url,
        simulator.latency_ms,
        simulator.failure_rate,
        simulator.reject_rate,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
