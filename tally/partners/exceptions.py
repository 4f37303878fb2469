"""Errors a partner can cause, each with its stable problem code."""

from __future__ import annotations

from tally.platform.exceptions import DomainError


class PartnerReferenceInvalidError(DomainError):
    status_code = 400
    code = "partner_reference_invalid"
    title = "Invalid partner reference"
    default_detail = "The reference must be 1 to 64 characters of letters, digits, '.', '_' or '-'."


class CustomerPhoneInvalidError(DomainError):
    status_code = 400
    code = "customer_phone_invalid"
    title = "Invalid customer phone"
    default_detail = "customer_phone must be a valid phone number in E.164, like +14155550123."


class CustomerChoiceError(DomainError):
    status_code = 400
    code = "customer_required"
    title = "Customer required"
    default_detail = "Give exactly one of customer_phone and customer."


class CallbackDeliveryError(Exception):
    """A callback attempt the partner did not accept (no answer, or not 2xx): retried."""
