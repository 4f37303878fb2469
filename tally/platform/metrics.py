"""``/metrics``: the Prometheus exposition, behind a bearer token where one is configured.

Production requires ``METRICS_TOKEN`` (the page counts sales, sign-ups and failed logins per
endpoint); development and tests leave it unset, and the page is open.

Beside the process counters (django-prometheus's and ``prometheus_client``'s, summed over
the gunicorn workers through ``PROMETHEUS_MULTIPROC_DIR``), the page serves gauges read at
scrape time from shared state: the outbox backlog (one indexed query) and the newest
periodic ledger verification (one Redis GET). Apps register those collectors with
``metrics_scrape_collector_register`` from their ``ready``; they are the same on every
replica, since they read the database and Redis, not the process.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from tally.platform.api.errors import problem_response

# Collectors read at every scrape, kept apart from the process registry (which, in
# multi-process mode, is rebuilt from the files at each scrape and holds no collectors).
_SCRAPE_REGISTRY = CollectorRegistry(auto_describe=False)
_SCRAPE_COLLECTORS: set[type[Collector]] = set()


def metrics_scrape_collector_register(collector: Collector) -> None:
    """Serve ``collector``'s metrics on ``/metrics``, read at each scrape; once per class
    (``ready`` may run more than once). Keep it to one cheap, indexed read."""
    if type(collector) not in _SCRAPE_COLLECTORS:
        _SCRAPE_COLLECTORS.add(type(collector))
        _SCRAPE_REGISTRY.register(collector)


def _export(request: HttpRequest) -> HttpResponse:
    response = ExportToDjangoView(request)
    response.content = response.content + generate_latest(_SCRAPE_REGISTRY)
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "METRICS_TOKEN", "")
    if not token:
        return _export(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        response = problem_response(
            request,
            status=401,
            code="not_authenticated",
            title="Not authenticated",
            detail="Metrics need 'Authorization: Bearer <METRICS_TOKEN>'.",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(presented.strip().encode(), token.encode()):
        return problem_response(
            request,
            status=403,
            code="permission_denied",
            title="Permission denied",
            detail="This token does not give access to the metrics.",
        )
    return _export(request)
