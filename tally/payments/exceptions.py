"""The payments' domain errors (rendered as problem details by the platform's handler)."""

from __future__ import annotations

from tally.platform.exceptions import DomainError


class CardNotAcceptedError(DomainError):
    status_code = 422
    code = "card_not_accepted"
    title = "Card not accepted"
    default_detail = "This gateway accepts only its documented test card numbers."


class WalletNeedsAccountError(DomainError):
    status_code = 422
    code = "wallet_requires_account"
    title = "Wallet needs an account"
    default_detail = "Only a signed-in customer can pay from a wallet."


class PaymentInProgressError(DomainError):
    status_code = 409
    code = "payment_in_progress"
    title = "Payment in progress"
    default_detail = "Another payment of this order is in progress."


class GatewayUnavailableError(Exception):
    """The gateway could not be reached or answered with a transient error: the call-out job
    retries with backoff. Never shown to a client."""


class WebhookInvalidError(DomainError):
    status_code = 400
    code = "webhook_invalid"
    title = "Webhook refused"
    default_detail = "The notification's signature does not verify."


class RefundExceedsCapturedError(DomainError):
    status_code = 422
    code = "refund_exceeds_captured"
    title = "Refund exceeds the captured amount"
    default_detail = "A payment's refunds can never add up to more than was captured."


class RefundExceedsLineError(DomainError):
    status_code = 422
    code = "refund_exceeds_line"
    title = "Refund exceeds the line"
    default_detail = "A line's refunds can never add up to more than the line's total."


class RefundUnknownLineError(DomainError):
    status_code = 422
    code = "unknown_line"
    title = "Unknown order line"
    default_detail = "This item is not a line of the order."


class RefundWalletNeedsCustomerError(DomainError):
    status_code = 422
    code = "wallet_requires_account"
    title = "Wallet needs an account"
    default_detail = (
        "A guest's order has no wallet: it is refunded to its original method "
        '(destination "original").'
    )


class RefundInProgressError(DomainError):
    status_code = 409
    code = "refund_in_progress"
    title = "Refund in progress"
    default_detail = (
        "What is left of this payment is being refunded; wait for that refund to finish."
    )
