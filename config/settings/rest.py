"""Django REST framework, drf-spectacular and API tunables."""

from __future__ import annotations

from config.env import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tally.identity.authentication.BearerJWTAuthentication",
        "tally.identity.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tally.platform.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "tally.platform.api.pagination.CursorPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_SCHEMA_CLASS": "tally.platform.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "tally.platform.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["tally.platform.ratelimit.throttles.RouteClassThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # How many proxies in front of the web processes append to X-Forwarded-For: the client
    # address (rate limits of anonymous callers) is the one the outermost trusted proxy saw.
    # 0 (no proxy): the header is ignored, so a client cannot pick its own address.
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
}

# Requests per caller (user, or client address when anonymous) and route class, in a fixed
# window: "<count>/<s|min|hour|day>", or "off". See tally.platform.ratelimit.
TALLY_RATE_LIMITS = {
    "money": env.str("RATE_LIMIT_MONEY", default="600/min"),
    "write": env.str("RATE_LIMIT_WRITE", default="300/min"),
    "read": env.str("RATE_LIMIT_READ", default="1200/min"),
    "login": env.str("RATE_LIMIT_LOGIN", default="10/min"),
    "login_address": env.str("RATE_LIMIT_LOGIN_ADDRESS", default="30/min"),
    "register": env.str("RATE_LIMIT_REGISTER", default="20/hour"),
}

# Ledger tunables.
LEDGER_BALANCE_CACHE_SECONDS = env.int("LEDGER_BALANCE_CACHE_SECONDS", default=300)
LEDGER_ROLL_UP_LOCK_TIMEOUT_MS = env.int("LEDGER_ROLL_UP_LOCK_TIMEOUT_MS", default=500)
LEDGER_VERIFY_WORK_MEM = env.str("LEDGER_VERIFY_WORK_MEM", default="256MB")

# How long a stored Idempotency-Key outcome is replayed.
IDEMPOTENCY_TTL_SECONDS = env.int("IDEMPOTENCY_TTL_SECONDS", default=24 * 3600)

SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": (
        "B2B prepaid credit and commerce on one double-entry ledger. Authenticate with "
        "`Authorization: Bearer <access JWT>` or `Authorization: Api-Key <key>`. Errors are "
        "RFC 9457 problem details (`application/problem+json`) with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {},
}
