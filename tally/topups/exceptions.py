"""Top-up errors, each a DomainError with a stable ``code`` (see docs/topups.md)."""

from __future__ import annotations

from tally.platform.exceptions import ConflictError


class PhoneNumberTakenError(ConflictError):
    code = "phone_number_taken"
    title = "Phone number already registered"
    default_detail = "This phone number is already registered."


class PhoneNumberInUseError(ConflictError):
    # Keeps the generic ``conflict`` code: the number is referenced by sales.
    title = "Phone number in use"
    default_detail = "Charges were sold to this phone number; it cannot be deleted or renumbered."
