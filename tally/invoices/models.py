"""Invoices: one per paid order, numbered without gaps per year, kept as a PDF in storage.

An invoice is *issued* (numbered, its amounts copied from the order) by a job that runs
after the payment's capture committed; its PDF is then rendered and stored by a call-out
job, and only then is it served and emailed. Amounts are integers of minor units in
``currency``. Every status change goes through ``tally.platform.status.status_transition``.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from tally.orders.models import Order
from tally.payments.models import Payment
from tally.platform.status import StatusMachine


class InvoiceStatus(models.TextChoices):
    ISSUED = "issued", "Issued"
    RENDERED = "rendered", "Rendered"
    FAILED = "failed", "Failed"


class Invoice(models.Model):
    """The invoice of one paid order."""

    status_machine = StatusMachine(
        states={
            InvoiceStatus.ISSUED: "numbered; its PDF is being rendered and stored",
            InvoiceStatus.RENDERED: "its PDF is stored, served to the buyer and emailed",
            InvoiceStatus.FAILED: "rendering or storing the PDF failed every attempt",
        },
        transitions={
            InvoiceStatus.ISSUED: (InvoiceStatus.RENDERED, InvoiceStatus.FAILED),
            # An admin renders a failed invoice again (same number).
            InvoiceStatus.FAILED: (InvoiceStatus.ISSUED,),
        },
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="invoice")
    # The captured payment it acknowledges (method and reference are printed).
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="+")
    # "INV-2026-000001": the year it was issued and its place in that year's sequence.
    number = models.CharField(max_length=32, unique=True)
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.ISSUED
    )
    # Copied from the order when issued (minor units of ``currency``).
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField()
    shipping = models.BigIntegerField()
    tax = models.BigIntegerField()
    total = models.BigIntegerField()
    # The PDF in Django's default storage; empty until rendered.
    file = models.FileField(max_length=255, blank=True)
    # The invoice date (its year is ``year``).
    issued_at = models.DateTimeField(default=timezone.now)
    rendered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # Why the last rendering attempt failed (kept after a later success).
    last_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="invoice_year_sequence"),
            models.CheckConstraint(condition=Q(sequence__gt=0), name="invoice_sequence_positive"),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") + F("shipping") + F("tax")),
                name="invoice_total_is_sum",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.RENDERED)
                | (~Q(file="") & Q(rendered_at__isnull=False)),
                name="invoice_rendered_has_file",
            ),
        ]
        indexes = [models.Index(fields=["-issued_at"], name="invoice_issued_idx")]

    def __str__(self) -> str:
        return self.number


class InvoiceCounter(models.Model):
    """The last number issued in one year: the row that keeps numbers gapless.

    It is incremented in the transaction that writes the invoice, so a rollback takes the
    number back with the invoice, and concurrent issuers queue on this row.
    """

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"
