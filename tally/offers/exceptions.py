"""The offers' domain errors (rendered as problem details by the platform's handler)."""

from __future__ import annotations

from tally.platform.exceptions import DomainError, InvalidStateError


class OfferUnavailableError(DomainError):
    status_code = 422
    code = "offer_unavailable"
    title = "Offer unavailable"
    default_detail = "This offer is not on sale any more."


class OfferCurrencyMismatchError(DomainError):
    status_code = 422
    code = "offer_currency_mismatch"
    title = "Offer in another currency"
    default_detail = "This offer is priced in another currency than the wallet."


class PartnerReferenceReusedError(DomainError):
    status_code = 422
    code = "partner_reference_reused"
    title = "Partner reference reused"
    default_detail = (
        "This reference was already used for another customer or offer; "
        "a reference names one activation."
    )


class SubscriptionNotRenewableError(InvalidStateError):
    status_code = 409
    code = "subscription_not_renewable"
    title = "Subscription not renewable"
    default_detail = "Only an active subscription, or one that expired recently, can be renewed."


class ProviderUnavailableError(Exception):
    """The provisioning provider could not be reached or answered with a transient error
    (timeout, connection refused, 5xx, 429): the call-out job retries with backoff. Never
    shown to a client: after the last attempt the activation fails ``provider_unavailable``.
    ``reason`` labels the failure in metrics: ``timeout``, ``unreachable`` or ``http_<status>``."""

    def __init__(self, detail: str, *, reason: str = "unavailable") -> None:
        super().__init__(detail)
        self.reason = reason
