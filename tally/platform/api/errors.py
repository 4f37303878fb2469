"""RFC 9457 problem details for every error: DRF's, Django's and Tally's own.

One function renders them all, so an integrator sees the same shape everywhere:
``{"type", "title", "status", "code", "detail", "instance", ...}`` served as
``application/problem+json``. Unexpected exceptions are logged and answered with a generic
500 ``internal_error``; their message is never shown.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from tally.platform.exceptions import DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# A URN, not a URL: the codes are documented in docs/api.md, not served one page each.
PROBLEM_TYPE_BASE = "urn:tally:problem:"
# A backing service unreachable or gone away mid-request (PostgreSQL restarting, a pool with
# no free connection in time, Redis down where nothing fails open). The transaction rolled
# back, or (connection lost at commit) its fate is unknown: the client retries with the same
# Idempotency-Key, which answers an applied request as before.
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
UNAVAILABLE_RETRY_AFTER_SECONDS = 1

# DRF exception class -> (code, title). Anything not listed uses its own default_code.
_DRF_CODES: dict[type[drf.APIException], tuple[str, str]] = {
    drf.ValidationError: ("validation_error", "Invalid input"),
    drf.ParseError: ("malformed_request", "Malformed request body"),
    drf.NotAuthenticated: ("not_authenticated", "Not authenticated"),
    drf.AuthenticationFailed: ("not_authenticated", "Not authenticated"),
    drf.PermissionDenied: ("permission_denied", "Permission denied"),
    drf.NotFound: ("not_found", "Not found"),
    drf.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    drf.NotAcceptable: ("not_acceptable", "Not acceptable"),
    drf.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    drf.Throttled: ("rate_limited", "Too many requests"),
}


def problem(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return body


def _flatten_errors(data: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error structure into ``[{"field", "code", "detail"}]``."""
    errors: list[dict[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            # Keys may be list positions (ints, 0 included) for a list's items.
            name = "" if key == "non_field_errors" else str(key)
            errors += _flatten_errors(
                value, f"{prefix}.{name}" if prefix and name != "" else prefix or name
            )
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, dict | list):
                errors += _flatten_errors(value, f"{prefix}.{index}" if prefix else str(index))
            else:
                errors += _flatten_errors(value, prefix)
    else:
        errors.append(
            {
                "field": prefix or "non_field_errors",
                "code": str(getattr(data, "code", "invalid")),
                "detail": str(data),
            }
        )
    return errors


def _first_detail(data: Any) -> str:
    if isinstance(data, list) and data:
        return _first_detail(data[0])
    if isinstance(data, dict) and data:
        return _first_detail(next(iter(data.values())))
    return str(data)


def problem_for_exception(
    exc: Exception, path: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (body, headers) for any exception."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        body = problem(
            status=exc.status_code,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=path,
            extra=exc.extra,
        )
        return body, headers
    if isinstance(exc, RequestDataTooBig):
        body = problem(
            status=413,
            code="request_too_large",
            title="Request too large",
            detail="The request body is larger than this API accepts.",
            instance=path,
        )
        return body, headers
    if isinstance(exc, UNAVAILABLE_ERRORS):
        body = problem(
            status=503,
            code="service_unavailable",
            title="Service unavailable",
            detail="A service Tally depends on is briefly unavailable. Retry with the same "
            "Idempotency-Key: a request that was applied is answered as before, never twice.",
            instance=path,
        )
        return body, {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.APIException):
        code, title = next(
            ((c, t) for cls, (c, t) in _DRF_CODES.items() if isinstance(exc, cls)),
            (str(exc.default_code), "Request failed"),
        )
        extra: dict[str, Any] = {}
        if isinstance(exc, drf.ValidationError):
            extra["errors"] = _flatten_errors(exc.detail)
            detail = "; ".join(
                f"{e['field']}: {e['detail']}" if e["field"] != "non_field_errors" else e["detail"]
                for e in extra["errors"][:5]
            )
        else:
            detail = _first_detail(exc.detail)
        wait = getattr(exc, "wait", None) if isinstance(exc, drf.Throttled) else None
        if wait is not None:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        body = problem(
            status=exc.status_code,
            code=code,
            title=title,
            detail=detail,
            instance=path,
            extra=extra,
        )
        return body, headers
    body = problem(
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred. It has been logged; quote the request id.",
        instance=path,
    )
    return body, headers


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception, expected or not, becomes problem+json."""
    request = context.get("request")
    path = request.get_full_path() if request is not None else None
    body, headers = problem_for_exception(exc, path)
    if body["status"] == 503:
        # Expected during an outage: one line per request, not a traceback each.
        logger.warning("service unavailable: %s: %s", type(exc).__name__, str(exc)[:200])
    elif body["status"] >= 500:
        logger.exception("unhandled error", exc_info=exc)
    set_rollback()
    response = Response(body, status=body["status"], headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    if isinstance(exc, drf.APIException):
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            response["WWW-Authenticate"] = auth_header
    return response


def problem_response(
    request: HttpRequest, *, status: int, code: str, title: str, detail: str
) -> HttpResponse:
    body = problem(status=status, code=code, title=title, detail=detail, instance=request.path)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


# Django-level handlers (config/urls.py): errors raised outside DRF views are problems too.
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        # Django answers a body over DATA_UPLOAD_MAX_MEMORY_SIZE read outside DRF (a form
        # POST, the admin's login) with its 400 handler; it is the same 413 as in the API.
        body, _ = problem_for_exception(exception, request.path)
        return JsonResponse(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
    return problem_response(
        request, status=400, code="bad_request", title="Bad request", detail="Bad request."
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return problem_response(
        request,
        status=403,
        code="permission_denied",
        title="Permission denied",
        detail="You do not have permission to perform this action.",
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return problem_response(
        request, status=404, code="not_found", title="Not found", detail="No such resource."
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred. It has been logged; quote the request id.",
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return problem_response(
        request,
        status=403,
        code="csrf_failed",
        title="CSRF check failed",
        detail=reason or "CSRF failed.",
    )
