"""Offers: buying an offer from the wallet, provisioning it, renewals, expiry and reminders.

An activation is a call-out use case (docs/architecture.md, "Calling an outside system"):

1. ``activation_create`` (the request's one transaction) reserves the price on the
   customer's wallet (a pending transfer wallet → offer revenue), writes the subscription
   (unless renewing one) and the activation, and enqueues ``tally.offers.activation_provision``.
2. The job marks the activation processing (a short transaction of its own), then calls the
   provider through the configured adapter with no transaction open; a transient failure
   is retried with backoff under the same idempotency key.
3. Settle (one transaction): post the reservation and make the subscription active (or
   extend it), or void it and fail the activation with a reason; after the last attempt,
   ``give_up`` voids and fails it ``provider_unavailable``. Either way the customer is
   notified and a partner that started it gets its callback, in the same transaction.

Every status change goes through ``status_transition``; every movement through the ledger;
row locks come from ``lock_objects`` in one order: activation, subscription, wallet.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET
from tally.identity.models import CustomerProfile, PartnerProfile, User
from tally.identity.services import actor_require_admin
from tally.ledger import services as ledger
from tally.ledger.exceptions import InsufficientFundsError
from tally.notifications.services import notification_send
from tally.offers import metrics
from tally.offers.exceptions import (
    OfferCurrencyMismatchError,
    OfferUnavailableError,
    PartnerReferenceReusedError,
    ProviderUnavailableError,
    SubscriptionNotRenewableError,
)
from tally.offers.hooks import activation_finished_announce
from tally.offers.ledger_vocabulary import OFFER_ACTIVATION, OFFER_REVENUE
from tally.offers.live_status import IN_FLIGHT, live_status_record
from tally.offers.lock_objects import (
    activation_lock,
    subscription_lock,
    subscription_lock_unless_busy,
)
from tally.offers.models import (
    Activation,
    ActivationSource,
    ActivationStatus,
    Offer,
    Subscription,
    SubscriptionStatus,
)
from tally.offers.provisioning import (
    ProvisioningRequest,
    ProvisioningResult,
    provisioning_adapter,
)
from tally.platform.audit.services import audit_record
from tally.platform.db import require_no_transaction, use_case, use_case_transaction
from tally.platform.exceptions import DomainError, InvalidStateError, NotFoundError
from tally.platform.money import from_minor
from tally.platform.outbox.callout import CallOutAttempt, outbox_callout_task
from tally.platform.outbox.models import OutboxMessage
from tally.platform.outbox.services import outbox_enqueue, outbox_message_retry
from tally.platform.status import status_transition

logger = logging.getLogger(__name__)

PROVISION_TASK = "tally.offers.activation_provision"
REFERENCE_PREFIX = "ACT-"
REFERENCE_CHARS = 10
# A claim older than this is presumed dead (its worker vanished): well above one call.
PROVISION_CLAIM_TIMEOUT_SECONDS = 120.0
BEAT_BATCH_SIZE = 200

FAILURE_REASONS = {
    "provider_unavailable": "the provider could not be reached",
    "provider_rejected": "the provider refused to activate it",
    "subscription_cancelled": "the subscription was cancelled meanwhile",
}


def activation_reference_new() -> str:
    """A fresh public reference: ``ACT-`` and 10 base32 characters (50 random bits)."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode()
    return REFERENCE_PREFIX + raw[:REFERENCE_CHARS]


# --- customer notifications --------------------------------------------------------------


def _notify(*, user: User, kind: str, context: dict[str, Any], dedup_key: str) -> None:
    """Record and queue a customer notification in the caller's transaction."""
    notification_send(user=user, kind=kind, context=context, dedup_key=dedup_key)


def _customer_context(customer: CustomerProfile, offer: Offer) -> dict[str, Any]:
    return {
        "customer_name": customer.user.full_name or customer.phone,
        "offer_name": offer.name,
        "currency": offer.currency,
    }


# --- buying ------------------------------------------------------------------------------


def _require_purchasable(offer: Offer) -> None:
    if not offer.is_active:
        raise OfferUnavailableError()
    if offer.currency != settings.TALLY_CURRENCY:
        raise OfferCurrencyMismatchError(
            f"This offer is priced in {offer.currency}; wallets hold {settings.TALLY_CURRENCY}."
        )


def _partner_repeat(
    *, partner: PartnerProfile, reference: str, customer: CustomerProfile, offer: Offer
) -> Activation | None:
    """The activation ``partner`` already started under ``reference`` (the same request
    again), or None; PartnerReferenceReusedError if it named another customer or offer."""
    first = Activation.objects.filter(partner=partner, partner_reference=reference).first()
    if first is None:
        return None
    if first.customer_id != customer.pk or first.offer_id != offer.pk:
        raise PartnerReferenceReusedError()
    return first


def _activation_write(
    *,
    customer: CustomerProfile,
    offer: Offer,
    source: str,
    partner: PartnerProfile | None,
    partner_reference: str | None,
    subscription: Subscription | None,
) -> Activation:
    if subscription is None:
        subscription = Subscription.objects.create(customer=customer, offer=offer)
    activation_id = uuid.uuid4()
    pending = ledger.transfer_create_pending(
        debit_account=ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET),
        credit_account=ledger.account_system(kind=OFFER_REVENUE, currency=offer.currency),
        amount_minor=offer.price,
        code=OFFER_ACTIVATION,
        reference=str(activation_id),
        metadata={"offer_id": str(offer.pk), "subscription_id": str(subscription.pk)},
    )
    activation = Activation.objects.create(
        id=activation_id,
        reference=activation_reference_new(),
        customer=customer,
        offer=offer,
        subscription=subscription,
        source=source,
        partner=partner,
        partner_reference=partner_reference,
        amount=offer.price,
        pending_transfer=pending,
    )
    actor = partner.user if partner is not None else customer.user
    audit_record(
        actor=None if source == ActivationSource.AUTO_RENEW else actor,
        action="activation.created",
        target=activation,
        changes={"status": [None, ActivationStatus.PENDING], "source": [None, source]},
    )
    # Before the job's publish (also on commit): the live status exists when a worker claims.
    live_status_record(activation=activation)
    outbox_enqueue(task_name=PROVISION_TASK, payload={"activation_id": str(activation.pk)})
    return activation


@use_case
def activation_create(
    *,
    customer: CustomerProfile,
    offer: Offer,
    source: str = ActivationSource.CUSTOMER,
    partner: PartnerProfile | None = None,
    partner_reference: str | None = None,
    subscription: Subscription | None = None,
) -> Activation:
    """Buy ``offer`` for ``customer`` (or renew ``subscription`` with it): reserve the price
    and queue provisioning. Returns the pending activation.

    Guarantees: the offer's price is reserved on the customer's wallet (a pending transfer
    wallet → offer revenue, code offer_activation, reference the activation id) only if the
    wallet's available balance covers it; a new subscription (pending) is written unless
    renewing ``subscription``; the activation (pending, reference ``ACT-…``) commits with
    both. Refusals write nothing: inactive offer (offer_unavailable), an offer in another
    currency than wallets (offer_currency_mismatch), not enough available
    (insufficient_funds). A partner's repeat of ``partner_reference`` with the same customer
    and offer returns the first activation, however many race (the unique reference
    decides); with another customer or offer, partner_reference_reused.

    Locks: the customer's wallet row (the ledger). Enqueues: ``activation_provision``.
    """
    if source == ActivationSource.PARTNER and (partner is None or not partner_reference):
        raise ValueError("a partner activation needs the partner and its reference")
    if subscription is not None and (
        subscription.customer_id != customer.pk or subscription.offer_id != offer.pk
    ):
        raise ValueError("a renewal buys the subscription's own offer for its own customer")
    if partner is not None and partner_reference is not None:
        first = _partner_repeat(
            partner=partner, reference=partner_reference, customer=customer, offer=offer
        )
        if first is not None:
            return first
    _require_purchasable(offer)
    arguments: dict[str, Any] = {
        "customer": customer,
        "offer": offer,
        "source": source,
        "partner": partner,
        "partner_reference": partner_reference,
        "subscription": subscription,
    }
    if partner is None or partner_reference is None:
        return _activation_write(**arguments)
    try:
        # A savepoint only here: a concurrent repeat of the reference that committed first
        # wins the unique constraint (or took the funds), and this one returns it.
        with transaction.atomic():
            return _activation_write(**arguments)
    except (IntegrityError, InsufficientFundsError):
        first = _partner_repeat(
            partner=partner, reference=partner_reference, customer=customer, offer=offer
        )
        if first is None:
            raise
        return first


def _renewable(subscription: Subscription, *, now: datetime) -> bool:
    if subscription.status == SubscriptionStatus.ACTIVE:
        return True
    grace = timedelta(days=int(settings.OFFERS_RENEW_GRACE_DAYS))
    return (
        subscription.status == SubscriptionStatus.EXPIRED
        and subscription.expires_at is not None
        and subscription.expires_at > now - grace
    )


@use_case
def subscription_renew(
    *, actor_customer: CustomerProfile, subscription: Subscription
) -> Activation:
    """Renew the customer's own ``subscription`` for one more period of its offer, through
    the same activation flow (``activation_create``): when provisioned, an active
    subscription is extended from its current expiry, a recently expired one starts again.

    Allowed for an active subscription or one that expired less than
    ``OFFERS_RENEW_GRACE_DAYS`` ago; otherwise subscription_not_renewable (409), nothing
    written. Another customer's subscription is not_found. Refusals of
    ``activation_create`` (offer withdrawn, insufficient funds) write nothing either.

    Locks: the subscription row, then the wallet (the ledger). Enqueues:
    ``activation_provision``.
    """
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.customer_id != actor_customer.pk:
        raise NotFoundError("No such subscription.")
    if not _renewable(locked, now=timezone.now()):
        raise SubscriptionNotRenewableError(current_status=locked.status)
    return activation_create(
        customer=actor_customer,
        offer=locked.offer,
        source=ActivationSource.CUSTOMER,
        subscription=locked,
    )


@use_case
def subscription_set_auto_renew(
    *, customer: CustomerProfile, subscription: Subscription, auto_renew: bool
) -> Subscription:
    """Turn auto-renewal of the customer's own pending or active subscription on or off.

    Another customer's subscription is not_found; an expired or cancelled one is
    invalid_state (409). Setting the current value again changes nothing. Locks: the
    subscription row. Enqueues nothing.
    """
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.customer_id != customer.pk:
        raise NotFoundError("No such subscription.")
    if locked.status not in (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE):
        raise InvalidStateError(
            f"This subscription is {locked.status}; auto-renewal cannot be changed.",
            current_status=locked.status,
        )
    if locked.auto_renew != auto_renew:
        now = timezone.now()
        Subscription.objects.filter(pk=locked.pk).update(auto_renew=auto_renew, updated_at=now)
        audit_record(
            actor=customer.user,
            action="subscription.auto_renew_changed",
            target=locked,
            changes={"auto_renew": [locked.auto_renew, auto_renew]},
        )
        locked.auto_renew, locked.updated_at = auto_renew, now
    return locked


# --- the provisioning job ----------------------------------------------------------------


@use_case
def activation_mark_processing(*, activation_id: str) -> Activation | None:
    """The job's first step, committed before the provider is called: pending → processing
    (a retry finds it processing: a no-op). None if the activation is already final.

    Locks: the activation row (through the update). Enqueues nothing.
    """
    activation = Activation.objects.select_related("offer", "customer", "subscription").get(
        pk=activation_id
    )
    if activation.status not in IN_FLIGHT:
        return None
    change = status_transition(
        instance=activation,
        to=ActivationStatus.PROCESSING,
        actor=None,
        action="activation.processing",
        no_op_states=(ActivationStatus.PROCESSING,),
    )
    if change.moved:
        live_status_record(activation=activation)
    return activation


def activation_call_provider(attempt: CallOutAttempt, *, activation_id: str) -> dict[str, Any]:
    """Call out (no transaction open): mark processing, then ask the provider through the
    configured adapter with the job's idempotency key. Returns the answer as JSON; a
    transient failure raises (the job retries with backoff)."""
    require_no_transaction()
    activation = activation_mark_processing(activation_id=activation_id)
    if activation is None:
        return {"final": True}
    request = ProvisioningRequest(
        activation_id=str(activation.pk),
        reference=activation.reference,
        offer_id=str(activation.offer_id),
        offer_kind=activation.offer.kind,
        customer_phone=activation.customer.phone,
        validity_days=activation.offer.validity_days,
        renewal=activation.subscription.started_at is not None,
    )
    started = time.monotonic()
    try:
        result = provisioning_adapter().activate(request, idempotency_key=attempt.idempotency_key)
    except ProviderUnavailableError as failure:
        metrics.PROVIDER_CALL_SECONDS.labels("failed").observe(time.monotonic() - started)
        metrics.PROVIDER_FAILURES.labels(failure.reason).inc()
        raise
    outcome = "activated" if result.activated else "rejected"
    metrics.PROVIDER_CALL_SECONDS.labels(outcome).observe(time.monotonic() - started)
    return result.as_json()


def _count_on_commit(activation: Activation) -> None:
    outcome = str(activation.status)
    assert activation.completed_at is not None  # nosec B101  # type narrowing, not a check
    seconds = (activation.completed_at - activation.created_at).total_seconds()

    def count() -> None:
        metrics.ACTIVATIONS.labels(outcome).inc()
        metrics.ACTIVATION_SECONDS.labels(outcome).observe(max(0.0, seconds))

    transaction.on_commit(count, robust=True)


def _activation_succeed(
    activation: Activation, subscription: Subscription, *, provider_reference: str
) -> None:
    now = timezone.now()
    posted = ledger.transfer_post_pending(pending=activation.pending_transfer, now=now)
    period = timedelta(days=activation.offer.validity_days)
    renewal = subscription.started_at is not None
    if subscription.status == SubscriptionStatus.ACTIVE:
        assert subscription.expires_at is not None  # nosec B101  # type narrowing, not a check
        old_expiry = subscription.expires_at
        new_expiry = max(old_expiry, now) + period
        Subscription.objects.filter(pk=subscription.pk).update(
            expires_at=new_expiry, updated_at=now
        )
        subscription.expires_at, subscription.updated_at = new_expiry, now
        audit_record(
            actor=None,
            action="subscription.extended",
            target=subscription,
            changes={
                "expires_at": [old_expiry.isoformat(), new_expiry.isoformat()],
                "activation": [None, str(activation.pk)],
            },
        )
    else:  # pending (a first purchase) or recently expired (a renewal)
        status_transition(
            instance=subscription,
            to=SubscriptionStatus.ACTIVE,
            actor=None,
            action="subscription.activated",
            fields={"started_at": now, "expires_at": now + period, "updated_at": now},
            changes={"activation": [None, str(activation.pk)]},
        )
    status_transition(
        instance=activation,
        to=ActivationStatus.SUCCEEDED,
        actor=None,
        action="activation.succeeded",
        fields={
            "resolution_transfer": posted,
            "provider_reference": provider_reference[:100],
            "completed_at": now,
        },
        changes={"resolution_transfer": [None, str(posted.pk)]},
    )
    live_status_record(activation=activation)
    _count_on_commit(activation)
    assert subscription.expires_at is not None  # nosec B101  # type narrowing, not a check
    _notify(
        user=activation.customer.user,
        kind="subscription_renewed" if renewal else "activation_succeeded",
        context={
            **_customer_context(activation.customer, activation.offer),
            "price": from_minor(activation.amount),
            "reference": activation.reference,
            "expires_at": subscription.expires_at,
        },
        dedup_key=f"activation:{activation.pk}:succeeded",
    )
    activation_finished_announce(activation=activation)


def _activation_fail(
    activation: Activation, subscription: Subscription, *, code: str, detail: str
) -> None:
    now = timezone.now()
    voided = ledger.transfer_void_pending(pending=activation.pending_transfer, now=now)
    status_transition(
        instance=activation,
        to=ActivationStatus.FAILED,
        actor=None,
        action="activation.failed",
        fields={
            "resolution_transfer": voided,
            "failure_code": code,
            "failure_detail": detail[:500],
            "completed_at": now,
        },
        changes={"resolution_transfer": [None, str(voided.pk)], "failure_code": [None, code]},
    )
    if subscription.status == SubscriptionStatus.PENDING:
        # A first purchase that failed: the subscription never started.
        status_transition(
            instance=subscription,
            to=SubscriptionStatus.CANCELLED,
            actor=None,
            action="subscription.cancelled",
            fields={"updated_at": now},
            changes={"activation": [None, str(activation.pk)]},
        )
    live_status_record(activation=activation)
    _count_on_commit(activation)
    _notify(
        user=activation.customer.user,
        kind="activation_failed",
        context={
            **_customer_context(activation.customer, activation.offer),
            "price": from_minor(activation.amount),
            "reference": activation.reference,
            "failure_reason": FAILURE_REASONS.get(code, "the provider refused to activate it"),
        },
        dedup_key=f"activation:{activation.pk}:failed",
    )
    activation_finished_announce(activation=activation)


def activation_settle(
    attempt: CallOutAttempt, result: dict[str, Any], *, activation_id: str
) -> None:
    """Settle (in the job's settle transaction, once per job): on the provider's activation,
    post the reservation, make the subscription active (a first purchase, or a renewal of
    an expired one) or extend it from its current expiry, and mark the activation
    succeeded; on its refusal, void the reservation, fail the activation with the
    provider's code and cancel a first purchase's subscription. The customer is notified
    and a partner's callback queued, in the same transaction.

    Locks: the activation row, its subscription row, then the wallet (the ledger).
    Enqueues: the notification's delivery; the partner callback (partner activations).
    """
    activation = activation_lock(activation_id=activation_id)
    if activation.status not in IN_FLIGHT or result.get("final"):
        return
    subscription = subscription_lock(subscription_id=activation.subscription_id)
    answer = ProvisioningResult.from_json(result)
    if not answer.activated:
        _activation_fail(
            activation,
            subscription,
            code=answer.failure_code or "provider_rejected",
            detail=answer.failure_detail or "The provider refused to activate this offer.",
        )
    elif subscription.status == SubscriptionStatus.CANCELLED:
        _activation_fail(
            activation,
            subscription,
            code="subscription_cancelled",
            detail="The subscription was cancelled before the activation finished.",
        )
    else:
        _activation_succeed(activation, subscription, provider_reference=answer.provider_reference)


def activation_give_up(attempt: CallOutAttempt, error: str, *, activation_id: str) -> None:
    """After the last failed attempt (once, in a transaction): void the reservation and fail
    the activation ``provider_unavailable``, as a refusal would. Locks as settle does."""
    activation = activation_lock(activation_id=activation_id)
    if activation.status not in IN_FLIGHT:
        return
    subscription = subscription_lock(subscription_id=activation.subscription_id)
    _activation_fail(
        activation,
        subscription,
        code="provider_unavailable",
        detail=f"The provider could not be reached after {attempt.attempt} attempts.",
    )


def activation_retry(*, actor: User, activation: Activation) -> bool:
    """An admin retries a stuck activation now: its provisioning job is republished through
    the outbox (``outbox_message_retry``, audited there), the path the sweeper and the
    call-out reconciler take; the job's claim, its idempotency key at the provider and its
    once-only settle keep a spare run from provisioning or charging twice. Returns whether
    the broker took it.

    Refuses, writing nothing: 403 for anyone but an admin; 409 ``invalid_state`` for an
    activation that ended (succeeded or failed: its reservation was posted or voided), one
    whose job ran or gave up, or one a worker holds or that waits for its next attempt.
    Locks the job's row while deciding. Runs outside any transaction.
    """
    actor_require_admin(actor=actor)
    current = Activation.objects.filter(pk=activation.pk).values_list("status", flat=True).first()
    if current not in IN_FLIGHT:
        raise InvalidStateError(
            f"This activation is {current}: it has ended, there is nothing to retry.",
            current_status=current,
        )
    message_id = (
        OutboxMessage.objects.filter(
            task_name=PROVISION_TASK, payload__activation_id=str(activation.pk)
        )
        .order_by("-created_at")
        .values_list("id", flat=True)
        .first()
    )
    if message_id is None:
        raise InvalidStateError("This activation has no provisioning job to retry.")
    return outbox_message_retry(actor=actor, message_id=message_id)


def provision_backoff_seconds(attempt: int) -> float:
    """Seconds before retrying after failed attempt ``attempt``: base · 2^(attempt-1), capped
    (``OFFERS_PROVIDER_RETRY_BASE_SECONDS``, ``OFFERS_PROVIDER_RETRY_MAX_SECONDS``)."""
    base = float(settings.OFFERS_PROVIDER_RETRY_BASE_SECONDS)
    return min(float(settings.OFFERS_PROVIDER_RETRY_MAX_SECONDS), base * 2 ** max(0, attempt - 1))


activation_provision = outbox_callout_task(
    PROVISION_TASK,
    call_out=activation_call_provider,
    settle=activation_settle,
    give_up=activation_give_up,
    max_attempts=int(settings.OFFERS_PROVIDER_MAX_ATTEMPTS),
    claim_timeout_seconds=max(
        PROVISION_CLAIM_TIMEOUT_SECONDS, 2 * float(settings.OFFERS_PROVIDER_TIMEOUT_SECONDS)
    ),
    backoff_seconds=provision_backoff_seconds,
)


# --- beat: expiry, auto-renewal, reminders ------------------------------------------------


@dataclass(frozen=True)
class ExpiryRun:
    renewed: int = 0
    expired: int = 0


def _auto_renewal_tried(subscription: Subscription) -> bool:
    """Whether an auto-renewal for the current period was already started (and failed, or
    the subscription would have moved on)."""
    assert subscription.expires_at is not None  # nosec B101  # type narrowing, not a check
    return Activation.objects.filter(
        subscription=subscription,
        source=ActivationSource.AUTO_RENEW,
        created_at__gte=subscription.expires_at,
    ).exists()


def _expire_or_renew(*, subscription_id: Any, now: datetime) -> str:
    """One due subscription, in the caller's transaction: "renewed", "expired" or "" (busy,
    renewing, or no longer due)."""
    subscription = subscription_lock_unless_busy(subscription_id=subscription_id)
    if (
        subscription is None
        or subscription.status != SubscriptionStatus.ACTIVE
        or subscription.expires_at is None
        or subscription.expires_at > now
        or subscription.activations.filter(status__in=IN_FLIGHT).exists()
    ):
        return ""
    if subscription.auto_renew and not _auto_renewal_tried(subscription):
        try:
            with transaction.atomic():  # a savepoint: a refusal writes nothing
                activation_create(
                    customer=subscription.customer,
                    offer=subscription.offer,
                    source=ActivationSource.AUTO_RENEW,
                    subscription=subscription,
                )
            return "renewed"
        except DomainError as refusal:
            logger.info(
                "auto-renewal refused; the subscription expires",
                extra={"subscription_id": str(subscription.pk), "code": refusal.code},
            )
    expires_at = subscription.expires_at
    status_transition(
        instance=subscription,
        to=SubscriptionStatus.EXPIRED,
        actor=None,
        action="subscription.expired",
        fields={"updated_at": now},
    )
    _notify(
        user=subscription.customer.user,
        kind="subscription_expired",
        context={
            **_customer_context(subscription.customer, subscription.offer),
            "expires_at": expires_at,
        },
        dedup_key=f"expired:{subscription.pk}:{expires_at.isoformat()}",
    )
    return "expired"


def subscription_expire_due(*, now: datetime | None = None) -> ExpiryRun:
    """Beat job: every active subscription past its expiry either starts its auto-renewal
    (opted in, not yet tried for this period, and the wallet and offer allow it: an
    ``auto_renew`` activation; the subscription stays active until it settles, and is
    extended from its expiry) or expires (the customer is notified).

    One short transaction per subscription; a subscription another run holds is skipped
    and one with an activation in flight waits for it, so overlapping or repeated runs do
    each thing once. Runs outside any transaction. Locks: each subscription row in turn,
    then the wallet (the ledger). Enqueues: ``activation_provision``, notifications.
    """
    now = now or timezone.now()
    due = list(
        Subscription.objects.filter(status=SubscriptionStatus.ACTIVE, expires_at__lte=now)
        .exclude(activations__status__in=IN_FLIGHT)
        .order_by("expires_at", "id")
        .values_list("id", flat=True)[:BEAT_BATCH_SIZE]
    )
    renewed = expired = 0
    for subscription_id in due:
        with use_case_transaction():
            outcome = _expire_or_renew(subscription_id=subscription_id, now=now)
        renewed += outcome == "renewed"
        expired += outcome == "expired"
    return ExpiryRun(renewed=renewed, expired=expired)


def subscription_remind_expiring(*, now: datetime | None = None) -> int:
    """Beat job: remind each customer whose active subscription expires within
    ``OFFERS_REMINDER_DAYS``, once per subscription period however often it runs.

    Per subscription, one short transaction: a conditional update records the expiry the
    reminder is for (``reminded_for_expires_at``) only if it was not recorded yet, and only
    the run whose update took the row queues the notification (kind subscription_expiring,
    dedup key ``expiring:<id>:<expires_at>``). A renewal moves ``expires_at``, opening the
    next period's reminder. Returns how many reminders were queued. Runs outside any
    transaction. Locks: each subscription row in turn (the update). Enqueues: notifications.
    """
    now = now or timezone.now()
    horizon = now + timedelta(days=int(settings.OFFERS_REMINDER_DAYS))

    def due() -> Any:
        return Subscription.objects.filter(
            status=SubscriptionStatus.ACTIVE, expires_at__gt=now, expires_at__lte=horizon
        ).exclude(reminded_for_expires_at=F("expires_at"))

    ids = list(due().order_by("expires_at", "id").values_list("id", flat=True)[:BEAT_BATCH_SIZE])
    sent = 0
    for subscription_id in ids:
        with use_case_transaction():
            if not due().filter(pk=subscription_id).update(reminded_for_expires_at=F("expires_at")):
                continue
            subscription = Subscription.objects.select_related("customer__user", "offer").get(
                pk=subscription_id
            )
            assert subscription.expires_at is not None  # nosec B101  # type narrowing, not a check
            _notify(
                user=subscription.customer.user,
                kind="subscription_expiring",
                context={
                    **_customer_context(subscription.customer, subscription.offer),
                    "expires_at": subscription.expires_at,
                    "auto_renew": subscription.auto_renew,
                },
                dedup_key=f"expiring:{subscription.pk}:{subscription.expires_at.isoformat()}",
            )
            transaction.on_commit(metrics.REMINDERS.inc, robust=True)
        sent += 1
    return sent
