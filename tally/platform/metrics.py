"""``/metrics``: the Prometheus exposition, behind a bearer token where one is configured.

Production requires ``METRICS_TOKEN`` (the page counts sales, sign-ups and failed logins per
endpoint); development and tests leave it unset, and the page is open.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from tally.platform.api.errors import problem_response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "METRICS_TOKEN", "")
    if not token:
        return ExportToDjangoView(request)
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
    return ExportToDjangoView(request)
