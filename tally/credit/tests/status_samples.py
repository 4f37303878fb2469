"""Rows in every state of credit's status machines (see tally/platform/testing/status.py)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from tally.credit import services
from tally.credit.models import (
    CreditRequest,
    CreditRequestStatus,
    CustomerCreditOperation,
    OperationStatus,
)
from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.ledger.models import Transfer
from tally.platform.testing.status import StatusSample


def _transfer() -> Transfer:
    return services.vendor_credit_increase(
        actor=AdminFactory(), vendor=VendorFactory(), amount_minor=1, reason="sample"
    ).transfer


def _first_approval() -> dict[str, Any]:
    return {"first_approved_by": AdminFactory(), "first_approved_at": timezone.now()}


def _credit_request_in(state: str) -> CreditRequest:
    vendor = VendorFactory()
    return CreditRequest.objects.create(
        vendor=vendor,
        amount=100,
        requested_by=vendor.user,
        status=state,
        transfer=_transfer() if state == CreditRequestStatus.APPROVED else None,
        **(_first_approval() if state == CreditRequestStatus.AWAITING_SECOND_APPROVAL else {}),
    )


def _credit_request_fields(target: str) -> dict[str, Any]:
    if target == CreditRequestStatus.APPROVED:
        return {"transfer": _transfer(), "credited_at": timezone.now()}
    if target == CreditRequestStatus.AWAITING_SECOND_APPROVAL:
        return _first_approval()
    return {}


def _operation_in(state: str) -> CustomerCreditOperation:
    vendor = VendorFactory()
    return CustomerCreditOperation.objects.create(
        vendor=vendor,
        customer=CustomerFactory(),
        amount=100,
        requested_by=vendor.user,
        status=state,
        transfer=_transfer() if state == OperationStatus.SUCCEEDED else None,
    )


def _operation_fields(target: str) -> dict[str, Any]:
    if target == OperationStatus.SUCCEEDED:
        return {"transfer": _transfer(), "completed_at": timezone.now()}
    return {"completed_at": timezone.now()}


STATUS_SAMPLES = {
    CreditRequest: StatusSample(row_in=_credit_request_in, fields_for=_credit_request_fields),
    CustomerCreditOperation: StatusSample(row_in=_operation_in, fields_for=_operation_fields),
}
