from __future__ import annotations

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
