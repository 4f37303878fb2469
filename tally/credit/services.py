"""Vendor credit: requests with admin approval, direct admin increases, and vendor → customer
wallet credit. Every movement goes through the ledger; async work goes through the outbox;
every use case opens its transaction with ``tally.platform.db.use_case`` and every status
change goes through ``tally.platform.status.status_transition``."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tally.credit import ledger_vocabulary as vocabulary
from tally.credit.exceptions import CreditRequestNotPendingError, SecondApproverRequiredError
from tally.credit.lock_objects import credit_request_lock, customer_credit_operation_lock
from tally.credit.low_credit import low_credit_alert_enqueue, low_credit_crossed
from tally.credit.metrics import credit_request_count_on_commit
from tally.credit.models import (
    CreditRequest,
    CreditRequestStatus,
    CustomerCreditOperation,
    OperationStatus,
)
from tally.credit.selectors import credit_request_needs_second_approval
from tally.identity.exceptions import VendorInactiveError
from tally.identity.models import CustomerProfile, User, VendorProfile
from tally.identity.services import actor_require_admin, vendor_require_active
from tally.ledger import services as ledger
from tally.ledger.models import Account, Transfer
from tally.platform.audit.services import audit_record
from tally.platform.db import use_case
from tally.platform.exceptions import DomainError
from tally.platform.outbox.services import outbox_enqueue, outbox_task
from tally.platform.status import status_transition

CREDIT_REQUEST_TASK = "tally.credit.credit_request_credit"
CUSTOMER_CREDIT_TASK = "tally.credit.customer_credit_execute"


def vendor_prepaid_account(*, vendor: VendorProfile) -> Account:
    """The vendor's prepaid ledger account (created on first use). Needs a transaction."""
    return ledger.account_get_or_create(owner=vendor.user, kind=vocabulary.VENDOR_PREPAID)


# --- credit requests --------------------------------------------------------------------


@use_case
def credit_request_create(*, vendor_user: User, amount_minor: int, note: str = "") -> CreditRequest:
    """An active vendor asks for credit. Nothing moves until an admin approves.

    Locks nothing. Enqueues nothing. Raises ``vendor_inactive`` for an inactive vendor.
    """
    vendor = vendor_require_active(user=vendor_user)
    request = CreditRequest.objects.create(
        vendor=vendor, amount=amount_minor, note=note, requested_by=vendor_user
    )
    audit_record(
        actor=vendor_user,
        action="credit_request.created",
        target=request,
        changes={"status": [None, "pending"]},
    )
    credit_request_count_on_commit(status=CreditRequestStatus.PENDING)
    return request


def _approve_refused(current: str) -> DomainError:
    return CreditRequestNotPendingError(
        f"This credit request was {current}; it cannot be approved."
    )


def _reject_refused(current: str) -> DomainError:
    return CreditRequestNotPendingError("This credit request was approved; it cannot be rejected.")


@use_case
def credit_request_approve(*, actor: User, credit_request: CreditRequest) -> CreditRequest:
    """Approve: mark the request approving and queue the credit job, once.

    Maker-checker: a pending request whose amount is above
    ``CREDIT_SECOND_APPROVAL_ABOVE_MINOR`` only records this first approval (who, when) and
    moves to ``awaiting_second_approval``; nothing is queued. A request awaiting its second
    approval moves on only when a different admin approves it; the admin who gave the first
    approval gets 403 ``second_approver_required`` and nothing changes. At or below the
    threshold one approval moves the request to ``approving``, as does the second approval.

    Locks: the request row (``credit_request_lock``) for the whole decision, so of any
    number of concurrent approvals exactly one moves each step and at most one enqueues the
    job; the others (and repeats, once it is approving or approved) change nothing.
    Approving a rejected request is ``invalid_state``. Admins only (403
    ``permission_denied`` for anyone else, e.g. staff without the admin role in Django
    admin). Enqueues: ``credit_request_credit`` via the outbox, when the request becomes
    approving.
    """
    actor_require_admin(actor=actor)
    locked = credit_request_lock(credit_request_id=credit_request.pk)
    now = timezone.now()
    if locked.status == CreditRequestStatus.PENDING and credit_request_needs_second_approval(
        credit_request=locked
    ):
        status_transition(
            instance=credit_request,
            to=CreditRequestStatus.AWAITING_SECOND_APPROVAL,
            actor=actor,
            action="credit_request.first_approved",
            fields={"first_approved_by": actor, "first_approved_at": now},
            changes={"first_approved_by": [None, str(actor.pk)]},
            error=_approve_refused,
        )
        credit_request_count_on_commit(status=CreditRequestStatus.AWAITING_SECOND_APPROVAL)
        return credit_request
    if (
        locked.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL
        and locked.first_approved_by_id == actor.pk
    ):
        credit_request.refresh_from_db()
        raise SecondApproverRequiredError(current_status=locked.status)
    change = status_transition(
        instance=credit_request,
        to=CreditRequestStatus.APPROVING,
        actor=actor,
        action="credit_request.approved",
        fields={"decided_by": actor, "decided_at": now},
        no_op_states=(CreditRequestStatus.APPROVING, CreditRequestStatus.APPROVED),
        error=_approve_refused,
    )
    if change.moved:
        outbox_enqueue(
            task_name=CREDIT_REQUEST_TASK, payload={"credit_request_id": str(credit_request.pk)}
        )
        credit_request_count_on_commit(status=CreditRequestStatus.APPROVING)
    return credit_request


@use_case
def credit_request_reject(
    *, actor: User, credit_request: CreditRequest, reason: str = ""
) -> CreditRequest:
    """Reject a pending request, or one awaiting its second approval (any admin, including
    the one who gave the first approval). Rejecting an approved (or approving) one is
    ``invalid_state``; rejecting twice is a no-op. Admins only (403 ``permission_denied``
    for anyone else, e.g. staff without the admin role in Django admin). Locks: the request
    row (through the update). Enqueues nothing.
    """
    actor_require_admin(actor=actor)
    change = status_transition(
        instance=credit_request,
        to=CreditRequestStatus.REJECTED,
        actor=actor,
        action="credit_request.rejected",
        fields={"decided_by": actor, "decided_at": timezone.now(), "rejection_reason": reason},
        no_op_states=(CreditRequestStatus.REJECTED,),
        error=_reject_refused,
    )
    if change.moved:
        credit_request_count_on_commit(status=CreditRequestStatus.REJECTED)
    return credit_request


@outbox_task(CREDIT_REQUEST_TASK)
def credit_request_credit(*, credit_request_id: str) -> None:
    """Worker: credit the vendor for an approving request, then mark it approved.

    Runs inside the outbox task's transaction (exactly once per message). Locks: the
    request row first (``credit_request_lock``), then the vendor's prepaid account (the
    ledger). The lock and the status check make a second job for the same request a no-op,
    and the ledger idempotency key (the request id) would return the first transfer even
    then. Enqueues nothing.
    """
    credit_request = credit_request_lock(credit_request_id=credit_request_id)
    if credit_request.status != CreditRequestStatus.APPROVING:
        return
    transfer = ledger.transfer_create(
        debit_account=ledger.account_system(kind=vocabulary.ISSUANCE),
        credit_account=vendor_prepaid_account(vendor=credit_request.vendor),
        amount_minor=credit_request.amount,
        code=vocabulary.CREDIT_REQUEST,
        reference=str(credit_request.pk),
        metadata={"credit_request_id": str(credit_request.pk)},
        idempotency_scope="credit_request",
        idempotency_key=str(credit_request.pk),
    ).transfer
    status_transition(
        instance=credit_request,
        to=CreditRequestStatus.APPROVED,
        actor=None,
        action="credit_request.credited",
        fields={"transfer": transfer, "credited_at": timezone.now()},
        changes={"transfer": [None, str(transfer.pk)]},
    )
    credit_request_count_on_commit(status=CreditRequestStatus.APPROVED)


# --- direct increase --------------------------------------------------------------------


@dataclass(frozen=True)
class CreditIncrease:
    transfer: Transfer
    vendor: VendorProfile


@use_case
def vendor_credit_increase(
    *, actor: User, vendor: VendorProfile, amount_minor: int, reason: str
) -> CreditIncrease:
    """An admin adds credit to a vendor at once, with a reason; recorded with who did it.

    Locks: the vendor's prepaid account row (the ledger). Enqueues nothing.
    """
    transfer = ledger.transfer_create(
        debit_account=ledger.account_system(kind=vocabulary.ISSUANCE),
        credit_account=vendor_prepaid_account(vendor=vendor),
        amount_minor=amount_minor,
        code=vocabulary.CREDIT_INCREASE,
        reference=str(vendor.pk),
        metadata={"reason": reason, "actor_id": str(actor.pk)},
    ).transfer
    audit_record(
        actor=actor,
        action="vendor.credit_increased",
        target=vendor,
        changes={
            "amount_minor": [None, amount_minor],
            "reason": [None, reason],
            "transfer": [None, str(transfer.pk)],
        },
    )
    return CreditIncrease(transfer=transfer, vendor=vendor)


# --- vendor → customer credit -----------------------------------------------------------


@use_case
def customer_credit_request(
    *, vendor_user: User, customer: CustomerProfile, amount_minor: int
) -> CustomerCreditOperation:
    """Accept a vendor → customer wallet credit; the worker moves the money.

    Returns the pending operation. Locks nothing. Enqueues: ``customer_credit_execute`` via
    the outbox. Raises ``vendor_inactive`` for an inactive vendor.
    """
    vendor = vendor_require_active(user=vendor_user)
    operation = CustomerCreditOperation.objects.create(
        vendor=vendor, customer=customer, amount=amount_minor, requested_by=vendor_user
    )
    outbox_enqueue(task_name=CUSTOMER_CREDIT_TASK, payload={"operation_id": str(operation.pk)})
    audit_record(actor=vendor_user, action="customer_credit.requested", target=operation)
    return operation


@outbox_task(CUSTOMER_CREDIT_TASK)
def customer_credit_execute(*, operation_id: str) -> None:
    """Worker: move the amount from the vendor's prepaid account to the customer's wallet.

    A business refusal (insufficient credit, vendor deactivated since) marks the operation
    failed with its code; nothing moves. Runs exactly once per message (outbox task).
    Locks: the operation row first (``customer_credit_operation_lock``), then the two
    ledger accounts (the ledger, in id order). Enqueues the vendor's low-credit alert when
    this debit takes its credit below its threshold (``tally.credit.low_credit``).
    """
    operation = customer_credit_operation_lock(operation_id=operation_id)
    if operation.status != OperationStatus.PENDING:
        return
    try:
        # A savepoint: a refused transfer leaves nothing behind, and the failure is recorded.
        with transaction.atomic():
            if not operation.vendor.is_active:
                raise VendorInactiveError("The vendor was deactivated before the credit ran.")
            prepaid = vendor_prepaid_account(vendor=operation.vendor)
            posted = ledger.transfer_create(
                debit_account=prepaid,
                credit_account=ledger.account_get_or_create(
                    owner=operation.customer.user, kind=vocabulary.CUSTOMER_WALLET
                ),
                amount_minor=operation.amount,
                code=vocabulary.CUSTOMER_CREDIT,
                reference=str(operation.pk),
                metadata={"operation_id": str(operation.pk)},
                idempotency_scope="customer_credit",
                idempotency_key=str(operation.pk),
            )
            transfer = posted.transfer
            # A replayed transfer (its idempotency key) moved nothing and reports no balance.
            after = posted.balances_after.get(prepaid.id)
            if after is not None and low_credit_crossed(
                threshold_minor=operation.vendor.low_credit_threshold,
                after_minor=after,
                amount_minor=operation.amount,
            ):
                low_credit_alert_enqueue(
                    vendor=operation.vendor,
                    account=prepaid,
                    transfer=transfer,
                    balance_after_minor=after,
                )
    except DomainError as refusal:
        status_transition(
            instance=operation,
            to=OperationStatus.FAILED,
            actor=None,
            action="customer_credit.failed",
            fields={
                "failure_code": refusal.code,
                "failure_detail": refusal.detail[:500],
                "completed_at": timezone.now(),
            },
            changes={"failure_code": [None, refusal.code]},
        )
        return
    status_transition(
        instance=operation,
        to=OperationStatus.SUCCEEDED,
        actor=None,
        action="customer_credit.succeeded",
        fields={"transfer": transfer, "completed_at": timezone.now()},
        changes={"transfer": [None, str(transfer.pk)]},
    )
