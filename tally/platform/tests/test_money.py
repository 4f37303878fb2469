"""Money conversion: exact or refused, in one place."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework import serializers

from tally.platform.money import (
    MAX_AMOUNT_MINOR,
    InvalidMoneyError,
    MoneyField,
    from_minor,
    to_minor,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("450.00", 45_000),
        ("450", 45_000),
        ("450.5", 45_050),
        ("0.01", 1),
        (" 12.34 ", 1_234),
        ("-3.10", -310),
        (Decimal("7.25"), 725),
        (Decimal("7.250"), 725),
        (3, 300),
    ],
)
def test_to_minor_is_exact(value: Any, expected: int) -> None:
    assert to_minor(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1.001",
        "1e3",
        "1E-2",
        "1e2",
        "\u0661\u0660",
        "\uff11\uff10",
        "1\u0660.00",
        "10.\u0660\u0660",
        "abc",
        "",
        "1.",
        ".5",
        "NaN",
        "Infinity",
        "1" * 40,
        1.5,
        True,
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("0.001"),
    ],
)
def test_to_minor_refuses_anything_inexact(value: Any) -> None:
    with pytest.raises(InvalidMoneyError):
        to_minor(value)


@pytest.mark.parametrize(
    ("amount_minor", "expected"),
    [
        (45_000, "450.00"),
        (1, "0.01"),
        (0, "0.00"),
        (-5, "-0.05"),
        (-12_345, "-123.45"),
        (10**15 + 7, "10000000000000.07"),
    ],
)
def test_from_minor_renders_two_decimals(amount_minor: int, expected: str) -> None:
    assert from_minor(amount_minor) == expected
    assert to_minor(expected) == amount_minor


def test_from_minor_refuses_non_integers() -> None:
    with pytest.raises(TypeError):
        from_minor(1.5)


class PaymentSerializer(serializers.Serializer):
    amount = MoneyField()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("450.00", 45_000),
        ("450", 45_000),
        (450, 45_000),
        (450.5, 45_050),
        (0.1, 10),
        ("0.01", 1),
        ("100000000000.00", MAX_AMOUNT_MINOR),
    ],
)
def test_money_field_reads_amounts_as_minor_units(raw: Any, expected: int) -> None:
    data = PaymentSerializer(data={"amount": raw})
    assert data.is_valid(), data.errors
    assert data.validated_data["amount"] == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0", "min_value"),
        ("0.00", "min_value"),
        ("-1.00", "min_value"),
        (0.1 + 0.2, "invalid"),
        ("1.001", "invalid"),
        ("NaN", "invalid"),
        (float("inf"), "invalid"),
        (float("nan"), "invalid"),
        ("1e5", "invalid"),
        ("1E-2", "invalid"),
        ("\u0661\u0660", "invalid"),
        ("\uff11\uff10", "invalid"),
        ("12,50", "invalid"),
        (True, "invalid"),
        (None, "null"),
        ([], "invalid"),
        ({"value": 1}, "invalid"),
        ("9" * 33, "invalid"),
        ("100000000000.01", "max_value"),
        (10**12, "max_value"),
    ],
)
def test_money_field_refuses_bad_amounts(raw: Any, code: str) -> None:
    data = PaymentSerializer(data={"amount": raw})
    assert not data.is_valid()
    assert data.errors["amount"][0].code == code


def test_money_field_may_allow_zero_but_never_negative() -> None:
    class Serializer(serializers.Serializer):
        amount = MoneyField(allow_zero=True)

    assert Serializer(data={"amount": "0"}).is_valid()
    negative = Serializer(data={"amount": "-0.01"})
    assert not negative.is_valid()
    assert negative.errors["amount"][0].code == "min_value_zero"


def test_money_field_writes_two_decimal_strings() -> None:
    assert PaymentSerializer({"amount": 45_000}).data == {"amount": "450.00"}
    assert PaymentSerializer({"amount": 7}).data == {"amount": "0.07"}


@pytest.mark.parametrize("literal", ["1E-2", "1e2", "1.5e1", "100E0"])
def test_money_field_refuses_a_json_number_with_an_exponent(literal: str) -> None:
    from tally.platform.api.parsers import JSONNumber

    data = PaymentSerializer(data={"amount": JSONNumber(literal)})
    assert not data.is_valid()
    assert data.errors["amount"][0].code == "invalid"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        '{"amount": "\u0661\u0660", "reason": "x"}',
        '{"amount": "\uff11\uff10", "reason": "x"}',
        '{"amount": "1E-2", "reason": "x"}',
        '{"amount": 1E-2, "reason": "x"}',
        '{"amount": 1e2, "reason": "x"}',
    ],
)
def test_an_amount_in_other_digits_or_with_an_exponent_is_refused_by_the_api(
    admin_client: Any, vendor: Any, body: str
) -> None:
    response = admin_client.generic(
        "POST", f"/api/v1/vendors/{vendor.pk}/credit/", body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == ["amount"]


@pytest.mark.django_db
def test_a_json_number_amount_written_plainly_is_accepted_by_the_api(
    admin_client: Any, vendor: Any
) -> None:
    response = admin_client.post(
        f"/api/v1/vendors/{vendor.pk}/credit/",
        '{"amount": 12.5, "reason": "x"}',
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
