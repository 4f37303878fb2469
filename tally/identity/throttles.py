"""Sign-in and sign-up limits, on the platform's Redis counters (fail open, like all limits)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from tally.platform.ratelimit.throttles import RouteClassThrottle


class LoginThrottle(RouteClassThrottle):
    """Per client address and email, so one address can't spray many accounts quickly
    and many attempts on one account from one place are capped."""

    def route_class(self, request: Request, view: Any) -> str:
        return "login"

    def caller(self, request: Request, view: Any) -> str:
        email = ""
        if isinstance(request.data, dict):
            email = str(request.data.get("email", ""))[:254].strip().lower()
        return f"ip:{self.get_ident(request)}:{email}"


class RegisterThrottle(RouteClassThrottle):
    def route_class(self, request: Request, view: Any) -> str:
        return "register"

    def caller(self, request: Request, view: Any) -> str:
        return f"ip:{self.get_ident(request)}"
