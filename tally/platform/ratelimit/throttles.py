"""DRF throttle classes on top of :mod:`tally.platform.ratelimit.services`."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from tally.platform.ratelimit.services import Decision, ratelimit_hit

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class RouteClassThrottle(BaseThrottle):
    """Limits each caller per route class.

    A view names its class with ``rate_limit_class`` (``"money"`` for writes that move
    money); otherwise safe methods count as ``"read"`` and the others as ``"write"``.
    """

    def route_class(self, request: Request, view: Any) -> str:
        declared = getattr(view, "rate_limit_class", None)
        if declared and request.method not in SAFE_METHODS:
            return str(declared)
        return "read" if request.method in SAFE_METHODS else "write"

    def caller(self, request: Request, view: Any) -> str:
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    def allow_request(self, request: Request, view: Any) -> bool:
        decision = ratelimit_hit(
            route_class=self.route_class(request, view), caller=self.caller(request, view)
        )
        self.decision = decision
        if decision is not None:
            request._rate_limit_decision = decision  # type: ignore[attr-defined]
        return decision is None or decision.allowed

    def wait(self) -> float | None:
        decision: Decision | None = getattr(self, "decision", None)
        return float(decision.reset_seconds) if decision is not None else None


def rate_limit_headers(request: Request) -> dict[str, str]:
    """``RateLimit-*`` headers for the last decision taken on this request."""
    decision: Decision | None = getattr(request, "_rate_limit_decision", None)
    if decision is None:
        return {}
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }
