"""Payment gateways behind one interface.

A gateway is called only from a call-out job or a beat job, never inside a database
transaction and never from a request (docs/architecture.md). Each method answers with a
``GatewayAnswer`` or raises ``GatewayUnavailableError`` (transient: retried).

- ``initiate``: start a payment (charge a card, open a hosted session).
- ``verify_webhook``: check a notification's signature and read it (no outside call).
- ``validate``: ask the gateway what became of a payment (the truth after a webhook, or
  for the reconcile job after a timeout).
- ``refund``: give money back to the original method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from django.utils.module_loading import import_string

Outcome = Literal["captured", "authorized", "declined", "redirect", "pending", "refunded"]


@dataclass(frozen=True)
class GatewayPayment:
    """What a gateway is told about a payment."""

    payment_id: str
    order_id: str
    order_number: str
    amount: int  # minor units
    currency: str
    method: str
    card_last4: str = ""
    buyer_email: str = ""
    buyer_name: str = ""
    buyer_phone: str = ""
    # {"line1", "line2", "city", "region", "postal_code", "country"}
    buyer_address: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayAnswer:
    """A gateway's answer: what happened, its reference, and what it says was paid."""

    outcome: Outcome
    reference: str = ""
    redirect_url: str = ""
    amount: int | None = None
    currency: str = ""
    reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GatewayAnswer:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class WebhookNotice:
    """A verified notification: which payment, and the gateway's reference to validate."""

    payment_id: str
    reference: str
    status: str
    raw: dict[str, Any]


class Gateway(Protocol):
    name: str
    clearing_kind: str

    def initiate(
        self, payment: GatewayPayment, *, idempotency_key: str, attempt: int = 1
    ) -> GatewayAnswer: ...

    def verify_webhook(self, data: Mapping[str, str]) -> WebhookNotice: ...

    def validate(self, payment: GatewayPayment, *, reference: str) -> GatewayAnswer: ...

    def refund(
        self, payment: GatewayPayment, *, reference: str, amount: int, idempotency_key: str
    ) -> GatewayAnswer: ...


_GATEWAYS: dict[str, str] = {
    "sandbox": "tally.payments.gateways.sandbox.SandboxGateway",
    "wallet": "tally.payments.gateways.wallet.WalletGateway",
    "manual": "tally.payments.gateways.manual.ManualGateway",
    "sslcommerz": "tally.payments.gateways.sslcommerz.SslcommerzGateway",
}


def gateway_register(name: str, dotted_path: str) -> None:
    """Plug in another gateway (its class's dotted path)."""
    _GATEWAYS[name] = dotted_path


def gateway_get(name: str) -> Gateway:
    try:
        path = _GATEWAYS[name]
    except KeyError:
        raise LookupError(f"no payment gateway {name!r}") from None
    gateway: Gateway = import_string(path)()
    return gateway
