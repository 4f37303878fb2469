from __future__ import annotations

from tally.platform.exceptions import InvalidStateError, PermissionDeniedError


class CreditRequestNotPendingError(InvalidStateError):
    default_detail = "Only a pending credit request can be decided; this one already was."


class SecondApproverRequiredError(PermissionDeniedError):
    """Maker-checker: the admin who gave a request its first approval cannot give the second."""

    code = "second_approver_required"
    title = "A second approver is required"
    default_detail = (
        "You already approved this credit request; a different admin must give the second approval."
    )
