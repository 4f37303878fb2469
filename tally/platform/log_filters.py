"""Logging filters."""

from __future__ import annotations

import logging


class ClientErrorsAtInfo(logging.Filter):
    """Django logs every 4xx answer at WARNING (``django.request``). A refusal is the API
    working as documented (insufficient funds, a validation error, an expired token), not a
    fault: at WARNING a storm of refusals would be a storm of log writes and would drown the
    warnings that need someone. This lowers 4xx records to INFO, and drops them when the
    logger is not enabled for INFO (``LOG_LEVEL=WARNING``). 5xx records are left as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        if record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return logging.getLogger(record.name).isEnabledFor(record.levelno)
