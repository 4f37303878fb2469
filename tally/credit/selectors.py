"""Credit reads; each permission-guarded lookup is one function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet

from tally.credit.ledger_vocabulary import VENDOR_PREPAID
from tally.credit.models import CreditRequest, CreditRequestStatus, CustomerCreditOperation
from tally.identity.models import User, VendorProfile
from tally.ledger import selectors as ledger_selectors
from tally.ledger.models import Account, Entry
from tally.ledger.selectors import AccountBalance
from tally.platform.exceptions import NotFoundError, PermissionDeniedError
from tally.platform.money import from_minor
from tally.platform.operations.selectors import Operation, operation_location


def credit_request_needs_second_approval(*, credit_request: CreditRequest) -> bool:
    """Whether the amount is above ``CREDIT_SECOND_APPROVAL_ABOVE_MINOR``, so the request
    needs two approvals by two different admins (maker-checker)."""
    return credit_request.amount > settings.CREDIT_SECOND_APPROVAL_ABOVE_MINOR


@dataclass(frozen=True)
class CreditRequestApproval:
    """One admin's approval of a credit request."""

    admin_id: UUID
    approved_at: datetime


def credit_request_approvals(*, credit_request: CreditRequest) -> list[CreditRequestApproval]:
    """The approvals given so far, oldest first: the first of two (maker-checker), then the
    one that moved the request to approving. A rejection is not an approval."""
    approvals = []
    if credit_request.first_approved_by_id and credit_request.first_approved_at:
        approvals.append(
            CreditRequestApproval(
                admin_id=credit_request.first_approved_by_id,
                approved_at=credit_request.first_approved_at,
            )
        )
    if (
        credit_request.status in (CreditRequestStatus.APPROVING, CreditRequestStatus.APPROVED)
        and credit_request.decided_by_id
        and credit_request.decided_at
    ):
        approvals.append(
            CreditRequestApproval(
                admin_id=credit_request.decided_by_id, approved_at=credit_request.decided_at
            )
        )
    return approvals


def credit_request_approvals_required(*, credit_request: CreditRequest) -> int:
    """How many approvals by different admins the request needs (or needed) to be credited:
    two once a first approval was recorded, or while pending above
    ``CREDIT_SECOND_APPROVAL_ABOVE_MINOR``; one otherwise."""
    if credit_request.first_approved_by_id:
        return 2
    if credit_request.status == CreditRequestStatus.PENDING:
        return 2 if credit_request_needs_second_approval(credit_request=credit_request) else 1
    return 1


def credit_request_list_for_actor(
    *, actor: User, status: str | None = None
) -> QuerySet[CreditRequest]:
    """Admins see every request; a vendor sees its own; others are refused."""
    requests = CreditRequest.objects.select_related("vendor__user")
    if actor.is_admin:
        pass
    elif actor.is_vendor:
        requests = requests.filter(vendor__user=actor)
    else:
        raise PermissionDeniedError()
    if status:
        requests = requests.filter(status=status)
    return requests


def credit_request_get_for_actor(*, actor: User, credit_request_id: UUID) -> CreditRequest:
    """One request, visible as in ``credit_request_list_for_actor``; 404 otherwise."""
    request = credit_request_list_for_actor(actor=actor).filter(pk=credit_request_id).first()
    if request is None:
        raise NotFoundError("No such credit request.")
    return request


@dataclass(frozen=True)
class VendorCreditPanel:
    """What an admin deciding a credit request sees of the vendor's prepaid credit."""

    account: Account | None
    balance: AccountBalance | None
    recent_entries: list[Entry]


def vendor_credit_panel(*, vendor: VendorProfile, entries_limit: int = 10) -> VendorCreditPanel:
    """The vendor's prepaid account, its balance read fresh from PostgreSQL (not the cache),
    and its newest ``entries_limit`` entries with their transfers. Reads only; creates
    nothing (no account before the vendor's first movement)."""
    account = ledger_selectors.account_find(owner_id=vendor.user_id, kind=VENDOR_PREPAID)
    if account is None:
        return VendorCreditPanel(account=None, balance=None, recent_entries=[])
    entries = list(
        ledger_selectors.owner_entries(owner_id=vendor.user_id, kind=VENDOR_PREPAID).order_by(
            "-id"
        )[:entries_limit]
    )
    return VendorCreditPanel(
        account=account,
        balance=ledger_selectors.account_balance(account=account),
        recent_entries=entries,
    )


CUSTOMER_CREDIT_OPERATION_KIND = "customer_credit"


def customer_credit_operation_as_operation(*, operation: CustomerCreditOperation) -> Operation:
    """A vendor → customer credit as the platform's operation status resource shows it."""
    return Operation(
        id=operation.pk,
        kind=CUSTOMER_CREDIT_OPERATION_KIND,
        status=operation.status,
        created_at=operation.created_at,
        completed_at=operation.completed_at,
        failure_code=operation.failure_code,
        failure_detail=operation.failure_detail,
        details={
            "vendor_id": str(operation.vendor_id),
            "customer_id": str(operation.customer_id),
            "amount": from_minor(operation.amount),
            "transfer_id": None if operation.transfer_id is None else str(operation.transfer_id),
        },
        links={"self": operation_location(operation_id=operation.pk)},
    )


def customer_credit_operation_find_for_actor(actor: Any, operation_id: UUID) -> Operation | None:
    """The operation, if it is a customer credit visible to ``actor``: the vendor that asked
    for it, or an admin. ``None`` otherwise (the operations endpoint answers 404).
    Registered with the platform's operations (``CreditConfig.ready``)."""
    operation = CustomerCreditOperation.objects.filter(pk=operation_id).first()
    if operation is None or not isinstance(actor, User):
        return None
    if not (actor.is_admin or operation.vendor_id == actor.pk):
        return None
    return customer_credit_operation_as_operation(operation=operation)
