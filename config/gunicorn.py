"""gunicorn settings for the web process (`gunicorn -c config/gunicorn.py config.wsgi`)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, 2 * multiprocessing.cpu_count())))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 5
# gunicorn answers over-long request lines with its own HTML 414 page, which breaks the
# problem+json contract; let Django see them (and answer 400/404 as JSON). The load balancer
# in front bounds request sizes in production (docs/operations.md).
limit_request_line = 0
# Likewise a header line over gunicorn's 8190-byte default (a long bearer token, a big
# cookie) would get its HTML 431: up to 16 KB reach Django, which answers problem+json
# (401 for a bad token). Longer ones still get gunicorn's 431; the proxy in front should
# refuse them first (docs/operations.md).
limit_request_field_size = 16 * 1024
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") == "1" else None
access_log_format = '{"remote":"%(h)s","request":"%(r)s","status":%(s)s,"bytes":%(B)s,"duration_us":%(D)s,"request_id":"%({x-request-id}o)s"}'


def child_exit(server: object, worker: object) -> None:
    # With several workers, Prometheus metrics live in PROMETHEUS_MULTIPROC_DIR; a dead
    # worker's live gauges must be dropped.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
