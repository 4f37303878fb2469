"""Order numbers: short, human-readable, unique by construction, not sequential-looking.

A PostgreSQL sequence hands out n = 1, 2, 3…; n is scrambled by a bijection of the 40-bit
integers (multiplication by an odd constant, then an xor, both modulo 2**40), so distinct n
give distinct numbers and neighbours look unrelated; the result is written as 8 characters
of Crockford base32: ``ORD-7K3M-9Q2X``. 2**40 numbers last a very long time; the sequence
errors out (a 500, never a duplicate) if they are ever used up.
"""

from __future__ import annotations

from django.db import connection

SEQUENCE = "orders_order_number_seq"
PREFIX = "ORD-"
_BITS = 40
_MASK = (1 << _BITS) - 1
_MULTIPLIER = 0x9E3779B97 | 1  # odd, so multiplication is invertible modulo 2**40
_XOR = 0x5A5A3C3C96
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


def order_number_format(n: int) -> str:
    """The order number of sequence value ``n`` (1 ≤ n < 2**40)."""
    if not 0 < n <= _MASK:
        raise ValueError("order number sequence exhausted")
    scrambled = ((n * _MULTIPLIER) & _MASK) ^ _XOR
    chars = []
    for _ in range(_BITS // 5):
        chars.append(_ALPHABET[scrambled & 31])
        scrambled >>= 5
    text = "".join(reversed(chars))
    return f"{PREFIX}{text[:4]}-{text[4:]}"


def order_number_next() -> str:
    """A fresh order number (one ``nextval``; never reused, even if the order rolls back)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [SEQUENCE])
        row = cursor.fetchone()
    assert row is not None  # nosec B101  # type narrowing, not a check
    return order_number_format(int(row[0]))
