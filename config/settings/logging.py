"""Structured JSON logs; every line carries the request id (X-Request-ID)."""

from __future__ import annotations

from config.env import env

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    # Accept the caller's id as given (trace ids are not always UUIDs); generate one otherwise.
    "VALIDATE_GUID": False,
    "UUID_LENGTH": 32,
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
        "client_errors_at_info": {"()": "tally.platform.log_filters.ClientErrorsAtInfo"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {"correlation_id": "request_id", "levelname": "level"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 4xx answer is the API refusing as documented: INFO, not WARNING.
        "django.request": {"filters": ["client_errors_at_info"]},
        "django_guid": {"level": "WARNING"},
    },
}
