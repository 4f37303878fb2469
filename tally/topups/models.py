"""Phone top-ups: the registry of phone numbers and the charges vendors sell to them.

Amounts are integers of minor units (cents) in the ledger currency. A sale is written only by
``tally.topups.services.charge_sale_create``, in the same transaction as the ledger transfer
that pays for it, so a sale exists exactly when its money moved.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from tally.identity.models import VendorProfile
from tally.ledger.models import Transfer

# E.164: a plus sign and up to 15 digits, the first not zero.
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"


class PhoneNumber(models.Model):
    """A phone number charges are sold to, stored once in E.164 whoever uses it first.

    Registered by a vendor or an admin through the API, or on the fly by the first sale to
    it. The label is a note shared by everyone who can see the number.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=16, unique=True, help_text="E.164")
    label = models.CharField(max_length=100, blank=True)
    # Who registered it: may update or delete it (admins may always). Null if unknown.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(number__regex=E164_PATTERN), name="topups_phone_number_e164"
            ),
        ]
        indexes = [
            models.Index(fields=["created_by", "-created_at"], name="topups_phone_creator_idx"),
            models.Index(fields=["-created_at"], name="topups_phone_created_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class ChargeSale(models.Model):
    """A phone charge a vendor sold: its credit was debited by ``amount``, atomically.

    Append-only: a sale is never edited or deleted; its transfer (code ``charge_sale``,
    reference = the sale id) debits the vendor's credit and credits airtime settlement.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    vendor = models.ForeignKey(VendorProfile, on_delete=models.PROTECT, related_name="charge_sales")
    phone_number = models.ForeignKey(
        PhoneNumber, on_delete=models.PROTECT, related_name="charge_sales"
    )
    # Minor units of the ledger currency, always positive.
    amount = models.BigIntegerField()
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="charge_sale")
    # Equal to the transfer's created_at.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="topups_charge_sale_amount_positive"
            ),
        ]
        indexes = [
            # A vendor's history, newest first (keyset pages).
            models.Index(fields=["vendor", "-created_at"], name="topups_sale_vendor_idx"),
            # Sales to one number, newest first; also what blocks deleting a sold-to number.
            models.Index(fields=["phone_number", "-created_at"], name="topups_sale_phone_idx"),
            # The admins' cross-vendor history, newest first.
            models.Index(fields=["-created_at"], name="topups_sale_created_idx"),
        ]

    def __str__(self) -> str:
        return f"charge sale {self.id} ({self.amount})"
