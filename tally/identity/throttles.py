"""Sign-in and sign-up limits, on the platform's Redis counters (fail open, like all limits)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from tally.platform.ratelimit.services import Decision, ratelimit_hit
from tally.platform.ratelimit.throttles import RouteClassThrottle


def login_attempt_hit(*, address: str, email: str) -> Decision | None:
    """Count one sign-in attempt against both of its limits and return the binding one.

    ``login_address`` caps every attempt from one client address, whatever the email, so
    one address can't spray many accounts; ``login`` caps one account from one address.
    Both counters advance on every attempt. None when neither limit applies (off, or Redis
    unreachable).
    """
    email = email[:254].strip().lower()
    decisions = [
        decision
        for decision in (
            ratelimit_hit(route_class="login_address", caller=f"ip:{address}"),
            ratelimit_hit(route_class="login", caller=f"ip:{address}:{email}"),
        )
        if decision is not None
    ]
    if not decisions:
        return None
    refused = [decision for decision in decisions if not decision.allowed]
    if refused:
        return max(refused, key=lambda decision: decision.reset_seconds)
    return min(decisions, key=lambda decision: decision.remaining)


class LoginThrottle(RouteClassThrottle):
    """Per client address (``login_address``) and per address and email (``login``)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        email = ""
        if isinstance(request.data, dict):
            email = str(request.data.get("email", ""))
        decision = login_attempt_hit(address=str(self.get_ident(request)), email=email)
        self.decision = decision
        if decision is not None:
            request._rate_limit_decision = decision  # type: ignore[attr-defined]
        return decision is None or decision.allowed


class RegisterThrottle(RouteClassThrottle):
    def route_class(self, request: Request, view: Any) -> str:
        return "register"

    def caller(self, request: Request, view: Any) -> str:
        return f"ip:{self.get_ident(request)}"
