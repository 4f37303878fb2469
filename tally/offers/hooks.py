"""What other apps may hear from offers, without offers importing them.

An app that must act when an activation finishes (partners: the signed callback) registers
a listener in its ``AppConfig.ready``; offers announces inside the settle transaction, so a
listener's writes (e.g. its outbox job) commit or roll back with the settlement::

    activation_finished_listen(activation_callback_enqueue)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tally.offers.models import Activation

ActivationFinishedListener = Callable[..., None]

_activation_finished: list[ActivationFinishedListener] = []


def activation_finished_listen(listener: ActivationFinishedListener) -> None:
    """Call ``listener(activation=…)`` whenever an activation ends succeeded or failed."""
    if listener not in _activation_finished:
        _activation_finished.append(listener)


def activation_finished_announce(*, activation: Activation) -> None:
    """Tell every listener, in the caller's (the settle's) transaction."""
    for listener in _activation_finished:
        listener(activation=activation)
