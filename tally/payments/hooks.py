"""What payments announce to the apps that build on them (registered in their ``ready``),
so payments never imports them.

``payment_captured_listen(listener)``: ``listener(payment)`` runs inside the transaction
that captured ``payment`` (its order confirmed, the money split), so whatever it records
(e.g. an invoice job in the outbox) commits with the capture or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tally.payments.models import Payment

Listener = Callable[["Payment"], None]
_CAPTURED: list[Listener] = []


def payment_captured_listen(listener: Listener) -> None:
    if listener not in _CAPTURED:
        _CAPTURED.append(listener)


def payment_captured_announce(payment: Payment) -> None:
    for listener in list(_CAPTURED):
        listener(payment)
