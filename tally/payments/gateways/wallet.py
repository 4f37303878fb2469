"""The wallet gateway: the customer's wallet through the ledger, inside the request's
transaction (no outside system). ``tally.payments.services`` debits the wallet in the same
transaction as the payment's capture, so it never calls these methods but ``refund``'s
counterpart, which is a ledger transfer too."""

from __future__ import annotations

from collections.abc import Mapping

from tally.payments.exceptions import WebhookInvalidError
from tally.payments.gateways import GatewayAnswer, GatewayPayment, WebhookNotice
from tally.payments.ledger_vocabulary import CLEARING_WALLET


class WalletGateway:
    name = "wallet"
    clearing_kind = str(CLEARING_WALLET)

    def initiate(
        self, payment: GatewayPayment, *, idempotency_key: str, attempt: int = 1
    ) -> GatewayAnswer:
        raise NotImplementedError("wallet payments are captured in the request's transaction")

    def verify_webhook(self, data: Mapping[str, str]) -> WebhookNotice:
        raise WebhookInvalidError("The wallet sends no webhooks.")

    def validate(self, payment: GatewayPayment, *, reference: str) -> GatewayAnswer:
        raise NotImplementedError("wallet payments are never in flight")

    def refund(
        self, payment: GatewayPayment, *, reference: str, amount: int, idempotency_key: str
    ) -> GatewayAnswer:
        raise NotImplementedError("wallet refunds are ledger transfers")
