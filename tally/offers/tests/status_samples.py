"""Rows in every state of the offers' status machines (see tally/platform/testing/status.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from tally.identity.tests.factories import CustomerFactory
from tally.ledger import services as ledger
from tally.ledger.models import Transfer
from tally.offers.ledger_vocabulary import OFFER_ACTIVATION, OFFER_REVENUE
from tally.offers.models import (
    Activation,
    ActivationSource,
    ActivationStatus,
    Subscription,
    SubscriptionStatus,
)
from tally.offers.testing import customer_fund, customer_wallet, offer_make
from tally.platform.testing.status import StatusSample

_WITH_PERIOD = (SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED)
_FINAL = (ActivationStatus.SUCCEEDED, ActivationStatus.FAILED)


def _period() -> dict[str, Any]:
    now = timezone.now()
    return {"started_at": now, "expires_at": now + timedelta(days=30)}


def _subscription_in(state: str) -> Subscription:
    return Subscription.objects.create(
        customer=CustomerFactory(),
        offer=offer_make(),
        status=state,
        **(_period() if state in _WITH_PERIOD else {}),
    )


def _subscription_fields(target: str) -> dict[str, Any]:
    return _period() if target in _WITH_PERIOD else {}


def _reservation(customer: Any, *, resolved: bool = False) -> tuple[Transfer, Transfer | None]:
    customer_fund(customer, 100)
    with transaction.atomic():
        pending = ledger.transfer_create_pending(
            debit_account=customer_wallet(customer),
            credit_account=ledger.account_system(kind=OFFER_REVENUE),
            amount_minor=100,
            code=OFFER_ACTIVATION,
        )
        resolution = ledger.transfer_void_pending(pending=pending) if resolved else None
    return pending, resolution


def _activation_in(state: str) -> Activation:
    subscription = _subscription_in(SubscriptionStatus.PENDING)
    pending, resolution = _reservation(subscription.customer, resolved=state in _FINAL)
    return Activation.objects.create(
        reference=f"ACT-{pending.id.hex[:10].upper()}",
        customer=subscription.customer,
        offer=subscription.offer,
        subscription=subscription,
        source=ActivationSource.CUSTOMER,
        amount=100,
        status=state,
        pending_transfer=pending,
        resolution_transfer=resolution,
    )


def _activation_fields(target: str) -> dict[str, Any]:
    if target not in _FINAL:
        return {}
    _, resolution = _reservation(CustomerFactory(), resolved=True)
    return {"resolution_transfer": resolution, "completed_at": timezone.now()}


STATUS_SAMPLES = {
    Subscription: StatusSample(row_in=_subscription_in, fields_for=_subscription_fields),
    Activation: StatusSample(row_in=_activation_in, fields_for=_activation_fields),
}
