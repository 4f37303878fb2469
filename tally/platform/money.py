"""Money at the edge: the one place that converts between decimal strings and minor units.

Inside Tally an amount is an ``int`` of minor units (cents: ``45000`` is 450.00) stored as
``bigint``. The API speaks two-decimal strings (``"450.00"``). Nothing else converts, and
nothing ever goes through ``float``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Every supported currency has two decimal places (cents).
MINOR_UNITS = 2
_SCALE = 10**MINOR_UNITS
# The largest amount a single request may carry: 100 billion major units. Far below bigint's
# 9.2e18, so sums of many such amounts cannot overflow in practice.
MAX_AMOUNT_MINOR = 10**13
# Longer input is refused before it is parsed, so a huge string costs nothing.
_MAX_INPUT_LENGTH = 32
# ASCII digits only: ``\d`` (and ``Decimal``) would also take Arabic-Indic or fullwidth digits.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?", re.ASCII)


class InvalidMoneyError(ValueError):
    """The value is not an exact amount with at most two decimal places."""


def to_minor(value: Decimal | str | int) -> int:
    """Convert ``"450.00"``, ``Decimal("450")`` or ``450`` (major units) to ``45000``.

    Exact or refused: raises InvalidMoneyError for more than two decimal places, NaN,
    infinity, exponent notation in strings, floats and booleans. The sign is kept; range
    checks belong to the caller (see MoneyField).
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise InvalidMoneyError("Amounts must be a decimal string or an integer, never a float.")
    if isinstance(value, int):
        return value * _SCALE
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_INPUT_LENGTH or not _PLAIN_DECIMAL.fullmatch(text):
            raise InvalidMoneyError("Enter an amount like 450.00.")
        value = Decimal(text)
    if not value.is_finite():
        raise InvalidMoneyError("Amounts must be finite.")
    scaled = value * _SCALE
    if scaled != scaled.to_integral_value():
        raise InvalidMoneyError(f"Amounts have at most {MINOR_UNITS} decimal places.")
    return int(scaled)


def from_minor(amount_minor: int) -> str:
    """Render minor units as a two-decimal string: ``45000`` -> ``"450.00"``, ``-5`` -> ``"-0.05"``."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amount_minor must be an int")
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), _SCALE)
    return f"{sign}{major}.{minor:0{MINOR_UNITS}d}"


@extend_schema_field(
    {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "450.00"},
    component_name="Money",
)
class MoneyField(serializers.Field):
    """An amount: reads ``"450.00"`` / ``"450"`` / ``450`` / ``450.5`` into minor units (int),
    writes minor units as ``"450.00"``.

    Input must be positive unless ``allow_zero`` is set, at most two decimal places, finite
    and at most ``MAX_AMOUNT_MINOR``, written in ASCII digits without an exponent. A JSON
    number is accepted when it is written so (``450.5``; ``1e2`` is refused) and a float
    when its shortest decimal form has at most two places (``0.1 + 0.2`` is refused, not
    rounded).
    """

    default_error_messages = {
        "invalid": "Enter an amount as a decimal string with at most 2 decimal places, like 450.00.",
        "min_value": "The amount must be greater than zero.",
        "min_value_zero": "The amount must not be negative.",
        "max_value": "The amount must not exceed {max_amount}.",
    }

    def __init__(self, *, allow_zero: bool = False, **kwargs: Any) -> None:
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float):
            # A JSON number keeps the literal the client wrote (tally.platform.api.parsers), so
            # "1E-2" is refused like the string "1E-2"; otherwise repr() is the shortest
            # string that round-trips.
            data = getattr(data, "literal", None) or repr(data)
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        try:
            amount_minor = to_minor(data)
        except (InvalidMoneyError, InvalidOperation):
            self.fail("invalid")
        if amount_minor < 0 or (amount_minor == 0 and not self.allow_zero):
            self.fail("min_value_zero" if self.allow_zero else "min_value")
        if amount_minor > MAX_AMOUNT_MINOR:
            self.fail("max_value", max_amount=from_minor(MAX_AMOUNT_MINOR))
        return amount_minor

    def to_representation(self, value: int) -> str:
        return from_minor(value)
