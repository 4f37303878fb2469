"""Phone numbers: parsed, validated and normalised to E.164 with Google's libphonenumber.

Input is text of at most 32 characters in a common notation: digits, spaces, ``+``,
``-``, ``(``, ``)``, ``.`` and ``/``. Anything else (letters, control characters, emoji,
and so any extension: ``ext``, ``x``, ``#``, ``,``) is refused rather than dropped by the
parser, since E.164 has no extension and the number stored would not be the one given.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from rest_framework import serializers

PHONE_MAX_LENGTH = 32
_PUNCTUATION = frozenset(" \u00a0+-()./")


class InvalidPhoneNumberError(ValueError):
    pass


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` in E.164 (``+989121234567``) or raise InvalidPhoneNumberError."""
    if len(raw) > PHONE_MAX_LENGTH or not all(
        char.isdecimal() or char in _PUNCTUATION for char in raw
    ):
        raise InvalidPhoneNumberError("Enter a valid phone number.")
    try:
        parsed = phonenumbers.parse(raw, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumberError("Enter a valid phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumberError("Enter a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class PhoneNumberField(serializers.CharField):
    """A serializer field that accepts any common notation (as a JSON string) and yields
    E.164."""

    default_error_messages = {
        "invalid": "Enter the phone number as text.",
        "invalid_phone": "Enter a valid phone number.",
    }

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", PHONE_MAX_LENGTH)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def to_internal_value(self, data: Any) -> str:
        # CharField would take a JSON number as its digits; a phone number is text.
        if not isinstance(data, str):
            self.fail("invalid")
        # The limit applies to what was sent, not to the shorter E.164 it becomes.
        if len(data) > PHONE_MAX_LENGTH:
            self.fail("max_length", max_length=PHONE_MAX_LENGTH)
        value = super().to_internal_value(data)
        try:
            return phone_normalize(value)
        except InvalidPhoneNumberError:
            self.fail("invalid_phone")
            raise  # unreachable: fail() raises
