"""The sandbox gateway: test cards, in process, for development, tests and the bench.

It takes only these card numbers (any expiry in the future, any CVC); anything else is
refused with 422 ``card_not_accepted`` when the payment is requested:

| card number | what happens |
|---|---|
| 4242 4242 4242 4242 | captured |
| 5555 5555 5555 4444 | captured (a debit card) |
| 4000 0000 0000 0002 | declined ``card_declined`` |
| 4000 0000 0000 9995 | declined ``insufficient_funds`` |
| 4000 0000 0000 0119 | the first two attempts fail transiently (retried), then captured |

PayPal and crypto payments through the sandbox need no number and are captured.
The gateway decides by the last four digits, which are all a payment keeps.
"""

from __future__ import annotations

from collections.abc import Mapping

from tally.payments.exceptions import (
    CardNotAcceptedError,
    GatewayUnavailableError,
    WebhookInvalidError,
)
from tally.payments.gateways import GatewayAnswer, GatewayPayment, WebhookNotice
from tally.payments.ledger_vocabulary import CLEARING_SANDBOX

TEST_CARDS = {
    "4242424242424242": "captured",
    "5555555555554444": "captured",
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000119": "transient",
}
_BY_LAST4 = {number[-4:]: outcome for number, outcome in TEST_CARDS.items()}
TRANSIENT_FAILURES = 2
_CARD_METHODS = ("credit_card", "debit_card")


def sandbox_card_check(*, method: str, card_number: str | None) -> str:
    """The last four digits to keep for ``card_number``; refuses non-test numbers."""
    if method not in _CARD_METHODS:
        return ""
    digits = "".join(ch for ch in (card_number or "") if ch.isdigit())
    if digits not in TEST_CARDS:
        raise CardNotAcceptedError()
    return digits[-4:]


class SandboxGateway:
    name = "sandbox"
    clearing_kind = str(CLEARING_SANDBOX)

    def _answer(self, payment: GatewayPayment, *, attempt: int) -> GatewayAnswer:
        scenario = (
            _BY_LAST4.get(payment.card_last4, "captured") if payment.card_last4 else "captured"
        )
        reference = f"sbx_{payment.payment_id.replace('-', '')}"
        if scenario == "transient" and attempt <= TRANSIENT_FAILURES:
            raise GatewayUnavailableError("sandbox: transient failure (test card 0119)")
        if scenario in ("captured", "transient"):
            return GatewayAnswer(
                outcome="captured",
                reference=reference,
                amount=payment.amount,
                currency=payment.currency,
            )
        return GatewayAnswer(outcome="declined", reference=reference, reason=scenario)

    def initiate(
        self, payment: GatewayPayment, *, idempotency_key: str, attempt: int = 1
    ) -> GatewayAnswer:
        return self._answer(payment, attempt=attempt)

    def verify_webhook(self, data: Mapping[str, str]) -> WebhookNotice:
        raise WebhookInvalidError("The sandbox gateway sends no webhooks.")

    def validate(self, payment: GatewayPayment, *, reference: str) -> GatewayAnswer:
        return self._answer(payment, attempt=99)

    def refund(
        self, payment: GatewayPayment, *, reference: str, amount: int, idempotency_key: str
    ) -> GatewayAnswer:
        return GatewayAnswer(
            outcome="refunded", reference=f"{reference}_r_{idempotency_key}"[:128], amount=amount
        )
