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
