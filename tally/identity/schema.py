"""OpenAPI description of the Api-Key scheme (Bearer JWT is described by drf-spectacular)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tally.identity.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; create keys with `POST /api/v1/api-keys/`.",
        }


class BearerJWTAuthenticationScheme(SimpleJWTScheme):
    target_class = "tally.identity.authentication.BearerJWTAuthentication"
