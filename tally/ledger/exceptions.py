"""Ledger errors: each a DomainError with a stable ``code`` (see docs/ledger.md).

``idempotency_key_reused`` is the platform's one error for a key reused with a different
request, whether the key came in an ``Idempotency-Key`` header or to a ledger service.
"""

from __future__ import annotations

from tally.platform.exceptions import DomainError
from tally.platform.idempotency.exceptions import IdempotencyKeyReusedError

__all__ = [
    "CurrencyMismatchError",
    "IdempotencyKeyReusedError",
    "InsufficientFundsError",
    "InvalidAmountError",
    "NotPendingError",
    "PendingTransferAlreadyResolvedError",
    "PendingTransferExpiredError",
    "PendingTransferNotExpiredError",
    "PostAmountExceedsPendingError",
    "SameAccountError",
]


class InvalidAmountError(DomainError):
    status_code = 422
    code = "invalid_amount"
    title = "Invalid amount"
    default_detail = "Amounts must be a positive whole number of minor units."


class SameAccountError(DomainError):
    status_code = 422
    code = "same_account"
    title = "Same account"
    default_detail = "A transfer needs two different accounts."


class CurrencyMismatchError(DomainError):
    status_code = 422
    code = "currency_mismatch"
    title = "Currency mismatch"
    default_detail = "Both accounts of a transfer must hold the same currency."


class InsufficientFundsError(DomainError):
    status_code = 422
    code = "insufficient_funds"
    title = "Insufficient funds"
    default_detail = "The account does not have enough available balance."


class NotPendingError(DomainError):
    status_code = 409
    code = "not_pending"
    title = "Not a pending transfer"
    default_detail = "Only a pending transfer can be posted, voided or expired."


class PendingTransferAlreadyResolvedError(DomainError):
    status_code = 409
    code = "pending_transfer_already_resolved"
    title = "Pending transfer already resolved"
    default_detail = "This pending transfer was already posted, voided or expired."


class PendingTransferExpiredError(DomainError):
    status_code = 409
    code = "pending_transfer_expired"
    title = "Pending transfer expired"
    default_detail = "This pending transfer expired and can no longer be posted."


class PendingTransferNotExpiredError(DomainError):
    status_code = 409
    code = "pending_transfer_not_expired"
    title = "Pending transfer not expired"
    default_detail = "This pending transfer has not reached its expiry time."


class PostAmountExceedsPendingError(DomainError):
    status_code = 422
    code = "post_amount_exceeds_pending"
    title = "Post amount exceeds pending amount"
    default_detail = "A pending transfer cannot be posted for more than it reserved."
