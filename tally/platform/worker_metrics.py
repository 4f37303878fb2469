"""A Celery worker's Prometheus metrics, served on an address of its own.

Counters that jobs move (activations settled, payments settled by a job, invoices rendered,
partner callbacks, reminders) live in the worker's processes, which serve no HTTP. With
``WORKER_METRICS_BIND`` set (``host:port``), the worker's main process serves ``/metrics``
there, summing what every pool process wrote to ``PROMETHEUS_MULTIPROC_DIR`` (each process
writes its own file; the directory must be empty when the worker starts, as the image's
entrypoint makes it). The address belongs on the internal network only: unlike the web's
``/metrics``, it asks for no token.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import CollectorRegistry, multiprocess, start_http_server


def worker_metrics_serve(*, bind: str) -> None:
    """Serve the worker's metrics on ``bind`` (``host:port``) from a daemon thread of the
    calling process; return at once."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise ImproperlyConfigured(
            "WORKER_METRICS_BIND needs PROMETHEUS_MULTIPROC_DIR: an empty directory the "
            "worker's processes share."
        )
    host, separator, port = bind.rpartition(":")
    if not separator or not port.isdigit():
        raise ImproperlyConfigured(f"WORKER_METRICS_BIND must be host:port, not {bind!r}.")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)  # noqa: S104  # nosec B104  # the host is the operator's choice; empty means every interface
