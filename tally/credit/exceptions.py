from __future__ import annotations

from tally.platform.exceptions import InvalidStateError


class CreditRequestNotPendingError(InvalidStateError):
    default_detail = "Only a pending credit request can be decided; this one already was."
