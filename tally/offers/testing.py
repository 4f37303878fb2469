"""Test helpers for every app that sells or reads offers: catalog rows, funded customer
wallets and the wallet's position read fresh. Imported by tests only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET, ISSUANCE
from tally.identity.models import CustomerProfile
from tally.ledger import selectors as ledger_selectors
from tally.ledger import services as ledger
from tally.ledger.models import Account, Transfer
from tally.ledger.testing import FUNDING
from tally.offers.models import (
    Activation,
    ActivationStatus,
    Offer,
    OfferKind,
    Subscription,
    SubscriptionStatus,
)
from tally.offers.provider_simulator import ProviderSimulator, provider_simulator_run
from tally.platform.testing.race import wait_until


def offer_make(**fields: Any) -> Offer:
    """An active internet offer (price 500 minor units, 30 days) unless ``fields`` say else."""
    values: dict[str, Any] = {
        "name": "Internet 10 GB",
        "kind": OfferKind.INTERNET,
        "price": 500,
        "validity_days": 30,
        "data_mb": 10_240,
    }
    values.update(fields)
    return Offer.objects.create(**values)


def customer_wallet(customer: CustomerProfile) -> Account:
    """The customer's wallet account (opened if it does not exist yet)."""
    with transaction.atomic():
        return ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET)


def customer_fund(customer: CustomerProfile, amount_minor: int) -> Transfer:
    """Issue ``amount_minor`` into the customer's wallet, in a transaction of its own."""
    with transaction.atomic():
        return ledger.transfer_create(
            debit_account=ledger.account_system(kind=ISSUANCE),
            credit_account=ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET),
            amount_minor=amount_minor,
            code=FUNDING,
        ).transfer


def wallet_position(customer: CustomerProfile) -> tuple[int, int, int]:
    """(balance, pending, available) of the customer's wallet, read fresh."""
    found = ledger_selectors.account_balance(account=customer_wallet(customer))
    return found.balance, found.pending, found.available


def subscription_make(
    customer: CustomerProfile,
    offer: Offer,
    *,
    status: str = SubscriptionStatus.ACTIVE,
    expires_at: datetime | None = None,
    auto_renew: bool = False,
) -> Subscription:
    """A subscription in ``status``; active and expired ones get a period ending at
    ``expires_at`` (default: in ``offer.validity_days`` days)."""
    period: dict[str, Any] = {}
    if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED):
        end = expires_at or timezone.now() + timedelta(days=offer.validity_days)
        period = {"started_at": end - timedelta(days=offer.validity_days), "expires_at": end}
    return Subscription.objects.create(
        customer=customer, offer=offer, status=status, auto_renew=auto_renew, **period
    )


@contextlib.contextmanager
def provider_simulated(settings: Any, **options: Any) -> Iterator[ProviderSimulator]:
    """Run the provider simulator on loopback (no latency, no random failures unless
    ``options`` say so) and point the default adapter at it, with short timeouts and
    retries. ``settings`` is pytest-django's ``settings`` fixture."""
    options = {"latency_ms": 0, "failure_rate": 0.0, "reject_rate": 0.0, **options}
    with provider_simulator_run(**options) as provider:
        settings.OFFERS_PROVIDER_URL = provider.url
        settings.OFFERS_PROVIDER_ADAPTER = "tally.offers.provisioning.HttpProvisioningAdapter"
        settings.OFFERS_PROVIDER_TIMEOUT_SECONDS = 1.0
        settings.OFFERS_PROVIDER_RETRY_BASE_SECONDS = 0.05
        settings.OFFERS_PROVIDER_RETRY_MAX_SECONDS = 0.5
        yield provider


def activation_wait_final(activation: Activation, *, timeout_seconds: float = 20.0) -> Activation:
    """Wait until the worker settled ``activation``; return it read fresh."""
    return cast(
        Activation,
        wait_until(
            lambda: Activation.objects.filter(
                pk=activation.pk,
                status__in=(ActivationStatus.SUCCEEDED, ActivationStatus.FAILED),
            ).first(),
            timeout_seconds=timeout_seconds,
            message=f"activation {activation.reference} did not settle",
        ),
    )
