from __future__ import annotations

from tally.platform.exceptions import ConflictError, DomainError


class IdempotencyKeyReusedError(DomainError):
    status_code = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused"
    default_detail = "This Idempotency-Key was already used for a different request."


class IdempotencyInProgressError(ConflictError):
    code = "idempotency_in_progress"
    title = "Request in progress"
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."
