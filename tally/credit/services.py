"""Vendor credit: requests with admin approval, direct admin increases, and vendor → customer
wallet credit. Every movement goes through the ledger; async work goes through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from tally.credit.exceptions import CreditRequestNotPendingError
from tally.credit.models import (
    CreditRequest,
    CreditRequestStatus,
    CustomerCreditOperation,
    OperationStatus,
)
from tally.identity.models import CustomerProfile, User, VendorProfile
from tally.identity.services import vendor_require_active
from tally.ledger import services as ledger
from tally.credit import ledger_vocabulary as vocabulary
from tally.ledger.models import Transfer
from tally.platform.audit.services import audit_record
from tally.platform.exceptions import DomainError, VendorInactiveError
from tally.platform.outbox.services import outbox_enqueue, outbox_task

CREDIT_REQUEST_TASK = "tally.credit.credit_request_credit"
CUSTOMER_CREDIT_TASK = "tally.credit.customer_credit_execute"


def vendor_credit_account(*, vendor: VendorProfile) -> Any:
    """The vendor's prepaid-credit ledger account (created on first use)."""
    return ledger.account_get_or_create(owner=vendor.user, kind=vocabulary.VENDOR_PREPAID)


# --- credit requests --------------------------------------------------------------------


@transaction.atomic
def credit_request_create(*, vendor_user: User, amount_minor: int, note: str = "") -> CreditRequest:
    """An active vendor asks for credit. Nothing moves until an admin approves."""
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
    return request


@transaction.atomic
def credit_request_approve(*, actor: User, credit_request: CreditRequest) -> CreditRequest:
    """Approve: mark the request approving and queue the credit job, once.

    The conditional update decides among concurrent approvals: exactly one moves the
    request out of ``pending`` and enqueues the job; the others (and repeats) change
    nothing. Approving a rejected request is ``invalid_state``. Locks: the request row
    (through the update). Enqueues: ``credit_request_credit`` via the outbox.
    """
    moved = CreditRequest.objects.filter(
        pk=credit_request.pk, status=CreditRequestStatus.PENDING
    ).update(status=CreditRequestStatus.APPROVING, decided_by=actor, decided_at=timezone.now())
    credit_request.refresh_from_db()
    if moved:
        outbox_enqueue(
            task_name=CREDIT_REQUEST_TASK, payload={"credit_request_id": str(credit_request.pk)}
        )
        audit_record(
            actor=actor,
            action="credit_request.approved",
            target=credit_request,
            changes={"status": ["pending", "approving"]},
        )
    elif credit_request.status == CreditRequestStatus.REJECTED:
        raise CreditRequestNotPendingError(
            "This credit request was rejected; it cannot be approved."
        )
    return credit_request


@transaction.atomic
def credit_request_reject(
    *, actor: User, credit_request: CreditRequest, reason: str = ""
) -> CreditRequest:
    """Reject a pending request. Rejecting an approved (or approving) one is ``invalid_state``;
    rejecting twice is a no-op."""
    moved = CreditRequest.objects.filter(
        pk=credit_request.pk, status=CreditRequestStatus.PENDING
    ).update(
        status=CreditRequestStatus.REJECTED,
        decided_by=actor,
        decided_at=timezone.now(),
        rejection_reason=reason,
    )
    credit_request.refresh_from_db()
    if moved:
        audit_record(
            actor=actor,
            action="credit_request.rejected",
            target=credit_request,
            changes={"status": ["pending", "rejected"]},
        )
    elif credit_request.status != CreditRequestStatus.REJECTED:
        raise CreditRequestNotPendingError(
            "This credit request was approved; it cannot be rejected."
        )
    return credit_request


@outbox_task(CREDIT_REQUEST_TASK)
def credit_request_credit(*, credit_request_id: str) -> None:
    """Worker: credit the vendor for an approving request, then mark it approved.

    Runs inside the outbox task's transaction (exactly once per message). The row lock and
    the status check make a second job for the same request a no-op, and the ledger
    idempotency key (the request id) would return the first transfer even then.
    """
    # Only the request's own row: FOR UPDATE over the join would also lock the vendor's
    # profile and user rows, which every sale's foreign-key check takes FOR KEY SHARE at
    # commit, while this job waits for that sale's account row: a deadlock.
    credit_request = (
        CreditRequest.objects.select_for_update(of=("self",))
        .select_related("vendor__user")
        .get(pk=credit_request_id)
    )
    if credit_request.status != CreditRequestStatus.APPROVING:
        return
    transfer = ledger.transfer_create(
        debit_account=ledger.account_system(kind=vocabulary.ISSUANCE),
        credit_account=vendor_credit_account(vendor=credit_request.vendor),
        amount_minor=credit_request.amount,
        code=vocabulary.CREDIT_REQUEST,
        reference=str(credit_request.pk),
        metadata={"credit_request_id": str(credit_request.pk)},
        idempotency_scope="credit_request",
        idempotency_key=str(credit_request.pk),
    ).transfer
    credit_request.status = CreditRequestStatus.APPROVED
    credit_request.transfer = transfer
    credit_request.credited_at = timezone.now()
    credit_request.save(update_fields=["status", "transfer", "credited_at"])
    audit_record(
        actor=None,
        action="credit_request.credited",
        target=credit_request,
        changes={"status": ["approving", "approved"], "transfer": [None, str(transfer.pk)]},
    )


# --- direct increase --------------------------------------------------------------------


@dataclass(frozen=True)
class CreditIncrease:
    transfer: Transfer
    vendor: VendorProfile


@transaction.atomic
def vendor_credit_increase(
    *, actor: User, vendor: VendorProfile, amount_minor: int, reason: str
) -> CreditIncrease:
    """An admin adds credit to a vendor at once, with a reason; recorded with who did it.

    Locks: the vendor's credit account row. Enqueues nothing.
    """
    transfer = ledger.transfer_create(
        debit_account=ledger.account_system(kind=vocabulary.ISSUANCE),
        credit_account=vendor_credit_account(vendor=vendor),
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


@transaction.atomic
def customer_credit_request(
    *, vendor_user: User, customer: CustomerProfile, amount_minor: int
) -> CustomerCreditOperation:
    """Accept a vendor → customer wallet credit; the worker moves the money.

    Returns the pending operation. Enqueues: ``customer_credit_execute`` via the outbox.
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
    """Worker: move the amount from the vendor's credit to the customer's wallet.

    A business refusal (insufficient credit, vendor deactivated since) marks the operation
    failed with its code; nothing moves. Runs exactly once per message (outbox task).
    """
    operation = (
        # Only the operation's row (see credit_request_credit).
        CustomerCreditOperation.objects.select_for_update(of=("self",))
        .select_related("vendor__user", "customer__user")
        .get(pk=operation_id)
    )
    if operation.status != OperationStatus.PENDING:
        return
    try:
        # A savepoint: a refused transfer leaves nothing behind, and the failure is recorded.
        with transaction.atomic():
            if not operation.vendor.is_active:
                raise VendorInactiveError("The vendor was deactivated before the credit ran.")
            transfer = ledger.transfer_create(
                debit_account=vendor_credit_account(vendor=operation.vendor),
                credit_account=ledger.account_get_or_create(
                    owner=operation.customer.user, kind=vocabulary.CUSTOMER_WALLET
                ),
                amount_minor=operation.amount,
                code=vocabulary.CUSTOMER_CREDIT,
                reference=str(operation.pk),
                metadata={"operation_id": str(operation.pk)},
                idempotency_scope="customer_credit",
                idempotency_key=str(operation.pk),
            ).transfer
    except DomainError as refusal:
        operation.status = OperationStatus.FAILED
        operation.failure_code = refusal.code
        operation.failure_detail = refusal.detail[:500]
        operation.completed_at = timezone.now()
        operation.save(update_fields=["status", "failure_code", "failure_detail", "completed_at"])
        audit_record(
            actor=None,
            action="customer_credit.failed",
            target=operation,
            changes={"status": ["pending", "failed"], "failure_code": [None, refusal.code]},
        )
        return
    operation.status = OperationStatus.SUCCEEDED
    operation.transfer = transfer
    operation.completed_at = timezone.now()
    operation.save(update_fields=["status", "transfer", "completed_at"])
    audit_record(
        actor=None,
        action="customer_credit.succeeded",
        target=operation,
        changes={"status": ["pending", "succeeded"], "transfer": [None, str(transfer.pk)]},
    )
