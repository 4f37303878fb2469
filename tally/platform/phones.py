"""Phone numbers: parsed, validated and normalised to E.164 with Google's libphonenumber."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from rest_framework import serializers


class InvalidPhoneNumberError(ValueError):
    pass


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` in E.164 (``+989121234567``) or raise InvalidPhoneNumberError."""
    try:
        parsed = phonenumbers.parse(raw, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumberError("Enter a valid phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumberError("Enter a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class PhoneNumberField(serializers.CharField):
    """A serializer field that accepts any common notation and yields E.164."""

    default_error_messages = {"invalid_phone": "Enter a valid phone number."}

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            return phone_normalize(value)
        except InvalidPhoneNumberError:
            self.fail("invalid_phone")
            raise  # unreachable: fail() raises
