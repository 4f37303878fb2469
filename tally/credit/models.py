from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from tally.identity.models import CustomerProfile, VendorProfile
from tally.ledger.models import Transfer
from tally.platform.status import StatusMachine


class CreditRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AWAITING_SECOND_APPROVAL = "awaiting_second_approval", "Awaiting second approval"
    APPROVING = "approving", "Approving"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class CreditRequest(models.Model):
    """A vendor's request for prepaid credit, approved or rejected by an admin."""

    status_machine = StatusMachine(
        states={
            CreditRequestStatus.PENDING: "submitted by the vendor, waiting for an admin",
            CreditRequestStatus.AWAITING_SECOND_APPROVAL: (
                "above the second-approval threshold and approved once; waiting for another admin"
            ),
            CreditRequestStatus.APPROVING: "approved by an admin; the credit job is queued",
            CreditRequestStatus.APPROVED: "the vendor's credit was increased (exactly once)",
            CreditRequestStatus.REJECTED: "refused by an admin; nothing moved",
        },
        transitions={
            CreditRequestStatus.PENDING: (
                CreditRequestStatus.AWAITING_SECOND_APPROVAL,
                CreditRequestStatus.APPROVING,
                CreditRequestStatus.REJECTED,
            ),
            CreditRequestStatus.AWAITING_SECOND_APPROVAL: (
                CreditRequestStatus.APPROVING,
                CreditRequestStatus.REJECTED,
            ),
            CreditRequestStatus.APPROVING: (CreditRequestStatus.APPROVED,),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey(
        VendorProfile, on_delete=models.PROTECT, related_name="credit_requests"
    )
    # Minor units of the ledger currency.
    amount = models.BigIntegerField()
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=32, choices=CreditRequestStatus.choices, default=CreditRequestStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Maker-checker: the first of two approvals an amount above
    # CREDIT_SECOND_APPROVAL_ABOVE_MINOR needs; the second approver is ``decided_by``.
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=500, blank=True)
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    credited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="credit_request_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in CreditRequestStatus]),
                name="credit_request_status_valid",
            ),
            # Approved exactly when credited: the transfer is set in the same transaction.
            models.CheckConstraint(
                condition=models.Q(status=CreditRequestStatus.APPROVED, transfer__isnull=False)
                | (
                    ~models.Q(status=CreditRequestStatus.APPROVED) & models.Q(transfer__isnull=True)
                ),
                name="credit_request_approved_has_transfer",
            ),
            # Waiting for a second approval means a first one was recorded.
            models.CheckConstraint(
                condition=~models.Q(status=CreditRequestStatus.AWAITING_SECOND_APPROVAL)
                | models.Q(first_approved_by__isnull=False, first_approved_at__isnull=False),
                name="credit_request_awaiting_has_first_approval",
            ),
            # Maker-checker, refereed by the database too: the admin whose approval moved a
            # request that needed two is never the one who gave the first.
            models.CheckConstraint(
                condition=~models.Q(
                    status__in=[CreditRequestStatus.APPROVING, CreditRequestStatus.APPROVED]
                )
                | models.Q(first_approved_by__isnull=True)
                | models.Q(decided_by__isnull=True)
                | ~models.Q(decided_by=models.F("first_approved_by")),
                name="credit_request_two_different_approvers",
            ),
        ]
        indexes = [
            models.Index(fields=["vendor", "-created_at"]),
            models.Index(fields=["status", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"credit request {self.id} ({self.status})"


class OperationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class CustomerCreditOperation(models.Model):
    """An asynchronous vendor → customer wallet credit, tracked at ``operations/{id}/``."""

    status_machine = StatusMachine(
        states={
            OperationStatus.PENDING: "accepted; the worker has not finished it yet",
            OperationStatus.SUCCEEDED: "the money moved",
            OperationStatus.FAILED: "refused; nothing moved, see failure_code",
        },
        transitions={
            OperationStatus.PENDING: (OperationStatus.SUCCEEDED, OperationStatus.FAILED),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey(VendorProfile, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(CustomerProfile, on_delete=models.PROTECT, related_name="+")
    # Minor units of the ledger currency.
    amount = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.PENDING
    )
    failure_code = models.CharField(max_length=64, blank=True)
    failure_detail = models.CharField(max_length=500, blank=True)
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="customer_credit_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(status=OperationStatus.SUCCEEDED, transfer__isnull=False)
                | (~models.Q(status=OperationStatus.SUCCEEDED) & models.Q(transfer__isnull=True)),
                name="customer_credit_succeeded_has_transfer",
            ),
        ]
        indexes = [models.Index(fields=["vendor", "-created_at"])]

    def __str__(self) -> str:
        return f"customer credit {self.id} ({self.status})"


class VendorLowCreditAlert(VendorProfile):
    """A vendor's low-credit alert settings (``low_credit_threshold``, ``alert_webhook_url``
    on its profile), as the admin edits them; no table of its own (docs/alerts.md)."""

    class Meta:
        proxy = True
        verbose_name = "low-credit alert"
        verbose_name_plural = "low-credit alerts"
