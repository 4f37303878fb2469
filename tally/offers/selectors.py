"""Offers reads; each permission-guarded lookup is one function, so each access rule lives
in one place: a customer sees its own subscriptions and activations, an admin sees all,
a partner sees the activations it started (by its own reference)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET
from tally.identity.models import PartnerProfile, User
from tally.ledger import selectors as ledger_selectors
from tally.ledger.models import Entry
from tally.offers.live_status import (
    ActivationStatusView,
    activation_status_view,
    live_status_read,
)
from tally.offers.models import Activation, Offer, Subscription, SubscriptionStatus
from tally.platform.exceptions import NotFoundError, PermissionDeniedError
from tally.platform.money import from_minor
from tally.platform.operations.selectors import Operation, operation_location

ACTIVATION_OPERATION_KIND = "activation"


def offer_get_for_purchase(*, offer_id: UUID | str) -> Offer:
    """The offer a purchase names, read from the database (not the catalog cache: the price
    and the active flag a purchase pays by must be current). NotFoundError if unknown;
    an inactive offer is returned (``activation_create`` refuses it as offer_unavailable)."""
    offer = Offer.objects.filter(pk=offer_id).first()
    if offer is None:
        raise NotFoundError("No such offer.")
    return offer


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) and actor.is_authenticated else None


def activation_list_for_actor(*, actor: Any) -> QuerySet[Activation]:
    """Admins see every activation, a customer its own; anyone else none."""
    activations = Activation.objects.select_related("offer", "subscription")
    user = _user(actor)
    if user is not None and user.is_admin:
        return activations
    if user is not None and user.is_customer:
        return activations.filter(customer_id=user.pk)
    return activations.none()


def activation_get_for_actor(*, actor: Any, activation_id: UUID | str) -> Activation:
    """One activation visible to ``actor`` (its customer, or an admin); NotFoundError
    otherwise, so another customer's activation looks like a missing one."""
    activation = activation_list_for_actor(actor=actor).filter(pk=activation_id).first()
    if activation is None:
        raise NotFoundError("No such activation.")
    return activation


def activation_status_for_actor(*, actor: Any, activation_id: UUID | str) -> ActivationStatusView:
    """The status of one activation visible to ``actor``: from Redis while it is in flight
    (pending or processing), from the database once final or whenever Redis has nothing
    (or is down). The access rule is the same as ``activation_get_for_actor``."""
    user = _user(actor)
    live = live_status_read(activation_id=activation_id)
    if (
        live is not None
        and user is not None
        and (user.is_admin or (user.is_customer and live.customer_id == user.pk))
    ):
        return live
    return activation_status_view(
        activation_get_for_actor(actor=actor, activation_id=activation_id)
    )


def activation_get_by_partner_reference(*, partner: PartnerProfile, reference: str) -> Activation:
    """The activation ``partner`` started under its own ``reference``; NotFoundError for
    another partner's reference or an unknown one."""
    activation = (
        Activation.objects.select_related("offer", "subscription", "customer__user")
        .filter(partner=partner, partner_reference=reference)
        .first()
    )
    if activation is None:
        raise NotFoundError("No activation with this reference.")
    return activation


def activation_as_operation(*, activation: Activation) -> Operation:
    """An activation as the platform's operation status resource shows it."""
    return Operation(
        id=activation.pk,
        kind=ACTIVATION_OPERATION_KIND,
        status=activation.status,
        created_at=activation.created_at,
        completed_at=activation.completed_at,
        failure_code=activation.failure_code,
        failure_detail=activation.failure_detail,
        details={
            "reference": activation.reference,
            "offer_id": str(activation.offer_id),
            "subscription_id": str(activation.subscription_id),
            "amount": from_minor(activation.amount),
            "source": activation.source,
        },
        links={
            "self": operation_location(operation_id=activation.pk),
            "activation": f"/api/v1/activations/{activation.pk}/",
        },
    )


def activation_operation_find_for_actor(actor: Any, operation_id: UUID) -> Operation | None:
    """The operation, if it is an activation visible to ``actor`` (its customer or an
    admin); None otherwise. Registered with the platform's operations (``OffersConfig``)."""
    activation = activation_list_for_actor(actor=actor).filter(pk=operation_id).first()
    return None if activation is None else activation_as_operation(activation=activation)


def subscription_list_for_actor(*, actor: Any) -> QuerySet[Subscription]:
    """Admins see every subscription, a customer its own (newest first); others are refused."""
    subscriptions = Subscription.objects.select_related("offer").order_by("-created_at", "id")
    user = _user(actor)
    if user is not None and user.is_admin:
        return subscriptions
    if user is not None and user.is_customer:
        return subscriptions.filter(customer_id=user.pk)
    raise PermissionDeniedError()


def subscription_get_for_actor(*, actor: Any, subscription_id: UUID | str) -> Subscription:
    """One subscription visible as in ``subscription_list_for_actor``; 404 otherwise."""
    subscription = subscription_list_for_actor(actor=actor).filter(pk=subscription_id).first()
    if subscription is None:
        raise NotFoundError("No such subscription.")
    return subscription


def subscription_expiring_for_actor(*, actor: Any, days: int) -> QuerySet[Subscription]:
    """The actor's active subscriptions that expire within ``days`` days from now (soonest
    first); ``days`` must be 0 or more."""
    if days < 0:
        raise ValueError("days must be 0 or more")
    now = timezone.now()
    return (
        subscription_list_for_actor(actor=actor)
        .filter(
            status=SubscriptionStatus.ACTIVE,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
        )
        .order_by("expires_at", "id")
    )


def wallet_entries_for_actor(*, actor: Any) -> QuerySet[Entry]:
    """The calling customer's wallet statement (keyset-paginate by ``-id``); 403 for anyone
    else, whose wallet this endpoint never shows."""
    user = _user(actor)
    if user is None or not user.is_customer:
        raise PermissionDeniedError()
    return ledger_selectors.owner_entries(owner_id=user.pk, kind=CUSTOMER_WALLET)


def wallet_entry_get_for_actor(*, actor: Any, entry_id: int) -> Entry:
    """One entry of the calling customer's wallet; 404 for any other entry."""
    entry = wallet_entries_for_actor(actor=actor).filter(pk=entry_id).first()
    if entry is None:
        raise NotFoundError("No such transaction.")
    return entry
