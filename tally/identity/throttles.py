"""Login and sign-up throttles. If Redis is unreachable they let requests through (fail open):
a throttle protects against guessing, and refusing every login during a cache outage would
turn a Redis fault into a full outage."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class FailOpenThrottle(SimpleRateThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("throttle store unreachable; allowing request", exc_info=True)
            return True


class LoginThrottle(FailOpenThrottle):
    """Per client address and per email, so one address can't spray many accounts quickly
    and many addresses can't hammer one account unnoticed."""

    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        email = ""
        if isinstance(request.data, dict):
            email = str(request.data.get("email", ""))[:254].strip().lower()
        return self.cache_format % {
            "scope": self.scope,
            "ident": f"{self.get_ident(request)}:{email}",
        }


class RegisterThrottle(FailOpenThrottle):
    scope = "register"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
