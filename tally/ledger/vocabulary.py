"""The ledger's vocabulary registry: account kinds and transfer codes, owned by the features.

The ledger knows no feature. Each app declares the kinds of account it keeps and the codes
(why money moved) of the transfers it writes, in a module named ``ledger_vocabulary`` that
the ledger imports at start-up (``LedgerConfig.ready``)::

    # tally/offers/ledger_vocabulary.py
    from tally.ledger.vocabulary import account_kind_register, transfer_code_register

    OFFER_REVENUE = account_kind_register("offer_revenue", label="Offer revenue", owned=False)
    OFFER_ACTIVATION = transfer_code_register("offer_activation", label="Offer activation")

The database stores both as plain text with a format check (no enumeration), so a new
feature never edits or migrates the ledger. The services refuse a kind or code nobody
registered, and ``verify_ledger`` reports any stored one that is not registered.
"""

from __future__ import annotations

import re
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

# Lower-case words joined by underscores; the columns' CHECK constraints use the same patterns.
ACCOUNT_KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
TRANSFER_CODE_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class UnknownVocabularyError(ValueError):
    """A kind or code no app registered: a programming error, never a user's."""


class AccountKind(str):
    """A kind of ledger account; the string is its stored value.

    Owned kinds have one account per owner and currency, whose live balance is kept in the
    row (changed by conditional updates); system kinds have one account per currency, no
    owner, and a balance derived from entries (off the hot path). Only owned kinds may be
    floored (never below zero available).
    """

    label: str
    owned: bool
    floored: bool

    def __new__(cls, value: str, *, label: str, owned: bool, floored: bool) -> AccountKind:
        kind = super().__new__(cls, value)
        kind.label, kind.owned, kind.floored = label, owned, floored
        return kind

    @property
    def value(self) -> str:
        return str.__str__(self)

    def declaration(self) -> tuple[object, ...]:
        return (self.value, self.label, self.owned, self.floored)


class TransferCode(str):
    """Why money moved; the string is its stored value. Never interpreted by the ledger."""

    label: str

    def __new__(cls, value: str, *, label: str) -> TransferCode:
        code = super().__new__(cls, value)
        code.label = label
        return code

    @property
    def value(self) -> str:
        return str.__str__(self)

    def declaration(self) -> tuple[object, ...]:
        return (self.value, self.label)


_Declared = TypeVar("_Declared", AccountKind, TransferCode)

_account_kinds: dict[str, AccountKind] = {}
_transfer_codes: dict[str, TransferCode] = {}


def account_kind_register(
    value: str, *, label: str, owned: bool, floored: bool | None = None
) -> AccountKind:
    """Declare an account kind; ``floored`` defaults to ``owned``. Registering the same
    declaration again is harmless; a different one under the same value is refused."""
    floored = owned if floored is None else floored
    if not re.match(ACCOUNT_KIND_PATTERN, value):
        raise ImproperlyConfigured(f"account kind {value!r} must match {ACCOUNT_KIND_PATTERN}")
    if floored and not owned:
        raise ImproperlyConfigured(f"system account kind {value!r} cannot be floored")
    return _register(_account_kinds, AccountKind(value, label=label, owned=owned, floored=floored))


def transfer_code_register(value: str, *, label: str) -> TransferCode:
    """Declare a transfer code. Registering the same declaration again is harmless."""
    if not re.match(TRANSFER_CODE_PATTERN, value):
        raise ImproperlyConfigured(f"transfer code {value!r} must match {TRANSFER_CODE_PATTERN}")
    return _register(_transfer_codes, TransferCode(value, label=label))


def _register(registry: dict[str, _Declared], declared: _Declared) -> _Declared:
    existing = registry.setdefault(declared.value, declared)
    if existing.declaration() != declared.declaration():
        raise ImproperlyConfigured(
            f"{declared.value!r} is registered twice, differently: "
            f"{existing.declaration()} and {declared.declaration()}"
        )
    return existing


def account_kind_get(value: AccountKind | str) -> AccountKind:
    """The registered kind for ``value``; UnknownVocabularyError if nobody registered it."""
    found = _account_kinds.get(str(value))
    if found is None:
        raise UnknownVocabularyError(f"account kind {value!r} is not registered")
    return found


def transfer_code_get(value: TransferCode | str) -> TransferCode:
    """The registered code for ``value``; UnknownVocabularyError if nobody registered it."""
    found = _transfer_codes.get(str(value))
    if found is None:
        raise UnknownVocabularyError(f"transfer code {value!r} is not registered")
    return found


def account_kinds() -> dict[str, AccountKind]:
    return dict(_account_kinds)


def transfer_codes() -> dict[str, TransferCode]:
    return dict(_transfer_codes)
