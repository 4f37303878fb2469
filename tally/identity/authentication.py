"""Request authentication: ``Bearer <access JWT>`` or ``Api-Key <key>``."""

from __future__ import annotations

import hmac

from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from tally.identity import selectors, services
from tally.identity.models import ApiKey, User


class BearerJWTAuthentication(JWTAuthentication):
    """simplejwt's access-token check (signature, expiry, type, active user)."""

    www_authenticate_realm = "api"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw_key = header.partition(" ")
        if scheme != self.keyword:
            return None
        split = services.api_key_split(raw_key.strip())
        if split is None:
            raise exceptions.AuthenticationFailed("Malformed API key.")
        prefix, key = split
        api_key = selectors.api_key_get_by_prefix(prefix=prefix)
        # Compare digests in constant time; an unknown prefix costs the same path.
        expected = api_key.key_hash if api_key else "0" * 64
        valid = hmac.compare_digest(expected, services.api_key_hash(key))
        if api_key is None or not valid:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.is_revoked:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        services.api_key_touch(api_key=api_key)
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
