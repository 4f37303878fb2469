"""A small HTTP server on loopback for the stand-ins of outside systems that `make run`, the
bench and the tests start (the offers' provider simulator, the SSLCommerz sandbox)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def loopback_server(
    handler: type[BaseHTTPRequestHandler], *, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, str]:
    """A threading server for ``handler`` bound to ``host:port`` (0: a free port), and its URL."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server, f"http://{host}:{server.server_address[1]}"


@contextlib.contextmanager
def serving_in_thread(server: ThreadingHTTPServer, *, name: str) -> Iterator[None]:
    """Serve ``server`` in a daemon thread for the block; shut it down and close it after."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
