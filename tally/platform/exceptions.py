"""Domain errors: every failure a caller can cause has a stable ``code`` and HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every business-rule failure; rendered as RFC 9457 problem details."""

    status_code: int = 400
    code: str = "domain_error"
    title: str = "Request cannot be completed"
    default_detail: str = "The request cannot be completed."

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"
    title = "Not found"
    default_detail = "Not found."


class PermissionDeniedError(DomainError):
    status_code = 403
    code = "permission_denied"
    title = "Permission denied"
    default_detail = "You do not have permission to perform this action."


class ConflictError(DomainError):
    status_code = 409
    code = "conflict"
    title = "Conflict"
    default_detail = "The request conflicts with the current state of the resource."


class InvalidStateError(DomainError):
    status_code = 409
    code = "invalid_state"
    title = "Invalid state"
    default_detail = "The resource is not in a state that allows this action."
