"""Invoices: issued after a payment's capture commits, rendered to PDF, stored and emailed.

Two jobs, both fed by the outbox (docs/invoices.md):

1. ``tally.invoices.invoice_issue`` is enqueued by the payment-captured hook in the capture's
   own transaction, so it exists exactly when the capture committed. It runs in one
   transaction (``outbox_task``): lock the order, and unless the order already has an
   invoice, take the year's next number (``tally.invoices.numbering``), write the invoice
   with the order's amounts, and enqueue the render job. A redelivered or repeated job finds
   the invoice and takes no number; a failed one rolls its number back with it.
2. ``tally.invoices.invoice_render`` is a call-out job (``outbox_callout_task``), because
   writing to storage is calling an outside system (an object store in production) and must
   not hold the year's counter row or any other lock: render the PDF and write it with no
   transaction open, then, once per job, mark the invoice rendered with its file and queue
   the buyer's email with the PDF attached. After ``INVOICE_RENDER_MAX_ATTEMPTS`` failed
   attempts the invoice is marked failed (an admin may render it again).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from tally.identity.models import User
from tally.identity.services import actor_require_admin
from tally.invoices.metrics import INVOICE_RENDER_SECONDS, invoice_job_count_on_commit
from tally.invoices.models import Invoice, InvoiceStatus
from tally.invoices.numbering import invoice_number_format, invoice_sequence_next
from tally.invoices.pdf import invoice_pdf_render
from tally.invoices.selectors import invoice_document_of
from tally.notifications.rendering import NotificationAttachment
from tally.notifications.services import notification_send
from tally.orders.lock_objects import order_lock
from tally.payments.models import CAPTURED_STATES, Payment
from tally.platform.audit.services import audit_record
from tally.platform.db import require_no_transaction, use_case
from tally.platform.money import from_minor
from tally.platform.outbox.callout import ERROR_MAX_CHARS, CallOutAttempt, outbox_callout_task
from tally.platform.outbox.services import outbox_enqueue, outbox_task
from tally.platform.status import status_transition

logger = logging.getLogger(__name__)

ISSUE_TASK = "tally.invoices.invoice_issue"
RENDER_TASK = "tally.invoices.invoice_render"
RENDER_RETRY_MAX_SECONDS = 600.0


def invoice_issue_enqueue(payment: Payment) -> None:
    """The payment-captured listener (``InvoicesConfig.ready``): queue the invoice of
    ``payment``'s order in the capture's transaction. Locks nothing. Enqueues:
    ``tally.invoices.invoice_issue``."""
    outbox_enqueue(task_name=ISSUE_TASK, payload={"payment_id": str(payment.pk)})


@use_case
def invoice_issue(*, payment_id: str) -> Invoice | None:
    """Issue the invoice of a captured payment's order: number it and copy its amounts.

    Guarantees: one invoice per order, however often or concurrently this runs; its number
    is the next of the issue year's sequence, taken in this transaction, so a rollback
    leaves no gap and a repeat takes no number. Returns the order's invoice, or None for a
    payment that is not captured (nothing to invoice). Locks: the order row, then the
    year's counter row (until commit). Enqueues: ``tally.invoices.invoice_render`` when it
    issues the invoice.
    """
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None or payment.status not in CAPTURED_STATES:
        logger.warning("no captured payment to invoice", extra={"payment_id": payment_id})
        return None
    # The order's lock makes a concurrent issuer of the same order wait, then find the
    # invoice below; the number is taken only after that check.
    order = order_lock(order_id=payment.order_id)
    existing = Invoice.objects.filter(order=order).first()
    if existing is not None:
        return existing
    started = timezone.now()
    year = timezone.localdate(started).year
    sequence = invoice_sequence_next(year=year)
    # Dated after the counter's lock was granted, so later numbers never carry earlier
    # dates; at a year's turn the date stays in the year that numbered it.
    issued_at = timezone.now()
    if timezone.localdate(issued_at).year != year:
        issued_at = started
    invoice = Invoice.objects.create(
        order=order,
        payment=payment,
        number=invoice_number_format(year=year, sequence=sequence),
        year=year,
        sequence=sequence,
        currency=order.currency,
        subtotal=order.subtotal,
        shipping=order.shipping,
        tax=order.tax,
        total=order.total,
        issued_at=issued_at,
        created_at=issued_at,
    )
    audit_record(
        actor=None,
        action="invoice.issued",
        target=invoice,
        changes={"number": [None, invoice.number], "order": [None, str(order.pk)]},
    )
    outbox_enqueue(task_name=RENDER_TASK, payload={"invoice_id": str(invoice.pk)})
    return invoice


@outbox_task(ISSUE_TASK)
def invoice_issue_job(*, payment_id: str) -> None:
    """Worker: ``invoice_issue`` in the outbox task's transaction (once per message)."""
    invoice_issue(payment_id=payment_id)


# --- rendering: a call-out job ---------------------------------------------------------


def invoice_storage_name(invoice: Invoice) -> str:
    """Where ``invoice``'s PDF goes: ``invoices/2026/INV-2026-000001-<random>.pdf``. The
    random part keeps names unguessable should the storage ever be exposed."""
    suffix = secrets.token_hex(8)
    return f"{settings.INVOICE_STORAGE_PREFIX}/{invoice.year}/{invoice.number}-{suffix}.pdf"


def invoice_render_call_out(attempt: CallOutAttempt, *, invoice_id: str) -> dict[str, Any]:
    """Call out, with no transaction open: render the PDF and write it to storage; return
    its stored name. An invoice no longer waiting for its PDF is left alone."""
    require_no_transaction()
    invoice = Invoice.objects.select_related("order", "payment").get(pk=invoice_id)
    if invoice.status != InvoiceStatus.ISSUED:
        return {"skip": True}
    started = time.monotonic()
    content = invoice_pdf_render(invoice_document_of(invoice))
    name = default_storage.save(invoice_storage_name(invoice), ContentFile(content))
    INVOICE_RENDER_SECONDS.observe(time.monotonic() - started)
    return {"name": name, "size_bytes": len(content)}


def _addressee(invoice: Invoice) -> dict[str, Any]:
    order = invoice.order
    if order.customer is not None:
        return {"user": order.customer.user}
    return {"recipient": order.email}


def invoice_render_settle(
    attempt: CallOutAttempt, result: dict[str, Any], *, invoice_id: str
) -> None:
    """Settle, once per job, in the outbox's transaction: the invoice is rendered with its
    file, and its buyer's email (the PDF attached) is queued to go after this commits."""
    if result.get("skip"):
        return
    invoice = Invoice.objects.select_related("order__customer__user").get(pk=invoice_id)
    change = status_transition(
        instance=invoice,
        to=InvoiceStatus.RENDERED,
        actor=None,
        action="invoice.rendered",
        fields={"file": result["name"], "rendered_at": timezone.now()},
        changes={"file": [None, result["name"]]},
        no_op_states=(InvoiceStatus.RENDERED,),
    )
    if not change.moved:
        return
    order = invoice.order
    notification_send(
        **_addressee(invoice),
        kind="invoice_issued",
        context={
            "name": order.name,
            "order_number": order.number,
            "invoice_number": invoice.number,
            "total": from_minor(invoice.total),
            "currency": invoice.currency,
        },
        dedup_key=f"invoice_issued:{invoice.pk}",
        attachments=[
            NotificationAttachment(
                path=result["name"],
                filename=f"{invoice.number}.pdf",
                content_type="application/pdf",
            )
        ],
    )
    invoice_job_count_on_commit(outcome="rendered")


def invoice_render_give_up(attempt: CallOutAttempt, error: str, *, invoice_id: str) -> None:
    """The last attempt failed (or its worker vanished): the invoice is marked failed; its
    number stays (it was issued), and an admin may render it again."""
    status_transition(
        instance=Invoice.objects.get(pk=invoice_id),
        to=InvoiceStatus.FAILED,
        actor=None,
        action="invoice.render_failed",
        fields={"failed_at": timezone.now(), "last_error": error[:ERROR_MAX_CHARS]},
        changes={"last_error": [None, error[:ERROR_MAX_CHARS]]},
        no_op_states=(InvoiceStatus.FAILED, InvoiceStatus.RENDERED),
    )
    invoice_job_count_on_commit(outcome="failed")


def _render_retry_in_seconds(attempt: int) -> float:
    base = float(settings.INVOICE_RENDER_RETRY_SECONDS)
    return min(RENDER_RETRY_MAX_SECONDS, base * 2 ** min(attempt - 1, 16))


invoice_render = outbox_callout_task(
    RENDER_TASK,
    call_out=invoice_render_call_out,
    settle=invoice_render_settle,
    give_up=invoice_render_give_up,
    max_attempts=int(settings.INVOICE_RENDER_MAX_ATTEMPTS),
    claim_timeout_seconds=float(settings.INVOICE_RENDER_CLAIM_TIMEOUT_SECONDS),
    backoff_seconds=_render_retry_in_seconds,
)


@use_case
def invoice_render_retry(*, actor: User, invoice: Invoice) -> Invoice:
    """An admin renders a failed invoice again (same number): failed → issued, and a new
    render job. Refuses non-admins (403) and any invoice that is not failed (409
    ``invalid_state``). Locks the invoice row. Enqueues: ``tally.invoices.invoice_render``.
    """
    actor_require_admin(actor=actor)
    status_transition(
        instance=invoice,
        to=InvoiceStatus.ISSUED,
        actor=actor,
        action="invoice.render_retried",
        fields={"failed_at": None},
    )
    outbox_enqueue(task_name=RENDER_TASK, payload={"invoice_id": str(invoice.pk)})
    return invoice
