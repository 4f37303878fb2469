"""Identity errors, each a DomainError with a stable ``code`` (see docs/api.md#errors)."""

from __future__ import annotations

from collections.abc import Iterable

from tally.platform.exceptions import ConflictError, DomainError


class EmailTakenError(ConflictError):
    code = "email_taken"
    title = "Email already registered"
    default_detail = "A user with this email address already exists."


class PhoneTakenError(ConflictError):
    code = "phone_taken"
    title = "Phone number already registered"
    default_detail = "A customer with this phone number already exists."


class InvalidCredentialsError(DomainError):
    status_code = 401
    code = "not_authenticated"
    title = "Invalid credentials"
    default_detail = "No active account found with the given email and password."


class InvalidTokenError(DomainError):
    status_code = 401
    code = "not_authenticated"
    title = "Invalid token"
    default_detail = "The token is invalid, expired or revoked."


class VendorInactiveError(DomainError):
    """A vendor that an admin has not activated (or has deactivated) writes nothing."""

    status_code = 422
    code = "vendor_inactive"
    title = "Vendor inactive"
    default_detail = "This vendor account is not active yet; an admin must activate it."


class FieldInvalidError(DomainError):
    """A field the input serializer accepted but a rule of the use case refuses (a weak
    password, a profile field the role requires). Rendered like the serializers' own
    ``validation_error``: ``errors`` names the field, so clients handle both alike."""

    status_code = 400
    code = "validation_error"
    title = "Invalid input"
    default_detail = "Invalid input."

    def __init__(self, *, field: str, messages: Iterable[str]) -> None:
        errors = [{"field": field, "code": "invalid", "detail": message} for message in messages]
        super().__init__(
            "; ".join(f"{field}: {error['detail']}" for error in errors[:5]), errors=errors
        )
