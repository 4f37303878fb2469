"""Cash and bank transfers: no outside system; an admin confirms the money arrived
(``payment_confirm_manual``, audited), or cancels the payment."""

from __future__ import annotations

from collections.abc import Mapping

from tally.payments.exceptions import WebhookInvalidError
from tally.payments.gateways import GatewayAnswer, GatewayPayment, WebhookNotice
from tally.payments.ledger_vocabulary import CLEARING_MANUAL


class ManualGateway:
    name = "manual"
    clearing_kind = str(CLEARING_MANUAL)

    def initiate(
        self, payment: GatewayPayment, *, idempotency_key: str, attempt: int = 1
    ) -> GatewayAnswer:
        return GatewayAnswer(outcome="pending")

    def verify_webhook(self, data: Mapping[str, str]) -> WebhookNotice:
        raise WebhookInvalidError("Cash and bank transfers send no webhooks.")

    def validate(self, payment: GatewayPayment, *, reference: str) -> GatewayAnswer:
        return GatewayAnswer(outcome="pending")

    def refund(
        self, payment: GatewayPayment, *, reference: str, amount: int, idempotency_key: str
    ) -> GatewayAnswer:
        # Paid back by hand (cash, a bank transfer out): recorded as done.
        return GatewayAnswer(outcome="refunded", amount=amount)
