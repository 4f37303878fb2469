"""Issuing invoices: numbers are sequential and gapless per year under concurrent issuers,
a rolled-back issue gives its number back, and a repeated or redelivered job makes no
second invoice and takes no number."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from tally.invoices.models import Invoice, InvoiceCounter, InvoiceStatus
from tally.invoices.numbering import invoice_number_format, invoice_sequence_next
from tally.invoices.services import ISSUE_TASK, RENDER_TASK, invoice_issue
from tally.invoices.tests.helpers import captured_payment, invoice_rendered
from tally.notifications.models import Notification
from tally.payments.models import Payment
from tally.platform.audit.models import AuditEvent
from tally.platform.db import TransactionRequiredError, use_case_transaction
from tally.platform.outbox.models import OutboxMessage
from tally.platform.outbox.services import outbox_enqueue
from tally.platform.testing.race import lock_wait_for, run_concurrently, transaction_held
from tally.platform.testing.tasks import task_runs_counted


class IssueFailedAfterNumberingError(RuntimeError):
    pass


def _year() -> int:
    return timezone.localdate().year


def _sequences() -> list[int]:
    return sorted(Invoice.objects.values_list("sequence", flat=True))


def _redeliver(message: OutboxMessage) -> None:
    """Deliver an outbox message to the worker once more, as a broker may."""
    current_app.send_task(
        message.task_name,
        kwargs={"message_id": message.id, **message.payload},
        task_id=f"outbox-{message.id}-again",
    )


def _issue_then_fail(payment: Payment, *, taking: int | None = None) -> None:
    """Issue ``payment``'s invoice in a transaction that then fails (and rolls back)."""
    with transaction.atomic():
        taken = invoice_issue(payment_id=str(payment.pk))
        assert taken is not None
        if taking is not None:
            assert taken.sequence == taking
        raise IssueFailedAfterNumberingError


def _issue_in_thread(payment: Payment, results: list[Any]) -> None:
    try:
        results.append(invoice_issue(payment_id=str(payment.pk)))
    finally:
        connection.close()


@pytest.mark.django_db
def test_an_invoice_copies_the_order_and_takes_the_first_number_of_the_year() -> None:
    # given
    payment = captured_payment()
    order = payment.order
    # when
    invoice = invoice_issue(payment_id=str(payment.pk))
    # then
    assert invoice is not None
    year = _year()
    assert (invoice.number, invoice.year, invoice.sequence) == (f"INV-{year}-000001", year, 1)
    assert (invoice.order_id, invoice.payment_id, invoice.status) == (
        order.pk,
        payment.pk,
        InvoiceStatus.ISSUED,
    )
    assert (
        invoice.currency,
        invoice.subtotal,
        invoice.shipping,
        invoice.tax,
        invoice.total,
    ) == (order.currency, order.subtotal, order.shipping, order.tax, order.total)
    assert (invoice.file.name, invoice.rendered_at) == ("", None)
    assert InvoiceCounter.objects.get(year=year).last_number == 1
    [render] = OutboxMessage.objects.filter(task_name=RENDER_TASK)
    assert render.payload == {"invoice_id": str(invoice.pk)}
    audit = AuditEvent.objects.get(action="invoice.issued")
    assert (audit.target_id, audit.changes["number"]) == (str(invoice.pk), [None, invoice.number])


@pytest.mark.django_db
def test_each_year_has_its_own_sequence_starting_at_one(settings: Any) -> None:
    # when
    with transaction.atomic():
        taken = [
            invoice_sequence_next(year=2025),
            invoice_sequence_next(year=2025),
            invoice_sequence_next(year=2026),
            invoice_sequence_next(year=2025),
        ]
    # then
    assert taken == [1, 2, 1, 3]
    assert dict(InvoiceCounter.objects.values_list("year", "last_number")) == {2025: 3, 2026: 1}
    assert invoice_number_format(year=2026, sequence=7) == "INV-2026-000007"
    assert invoice_number_format(year=2026, sequence=1_234_567) == "INV-2026-1234567"
    settings.INVOICE_NUMBER_PREFIX = "TLY"
    assert invoice_number_format(year=2027, sequence=1) == "TLY-2027-000001"


@pytest.mark.django_db(transaction=True)
def test_taking_a_number_needs_the_callers_transaction() -> None:
    # when / then
    with pytest.raises(TransactionRequiredError):
        invoice_sequence_next(year=2026)
    assert not InvoiceCounter.objects.exists()


@pytest.mark.django_db
def test_issuing_again_returns_the_same_invoice_and_takes_no_number() -> None:
    # given
    payment = captured_payment()
    first = invoice_issue(payment_id=str(payment.pk))
    # when
    again = invoice_issue(payment_id=str(payment.pk))
    # then
    assert again is not None
    assert first is not None
    assert again.pk == first.pk
    assert InvoiceCounter.objects.get(year=_year()).last_number == 1
    assert OutboxMessage.objects.filter(task_name=RENDER_TASK).count() == 1
    # the next order gets the next number
    following = invoice_issue(payment_id=str(captured_payment().pk))
    assert following is not None
    assert following.sequence == 2


@pytest.mark.django_db
def test_a_payment_that_is_not_captured_is_not_invoiced() -> None:
    # given
    payment = captured_payment()
    Payment.objects.filter(pk=payment.pk).update(status="failed")
    # when
    result = invoice_issue(payment_id=str(payment.pk))
    # then
    assert result is None
    assert not Invoice.objects.exists()
    assert not InvoiceCounter.objects.exists()


@pytest.mark.django_db
def test_a_rolled_back_issue_leaves_no_gap() -> None:
    # given: an issue whose transaction fails after it took number 1
    first, second = captured_payment(), captured_payment()
    with pytest.raises(IssueFailedAfterNumberingError):
        _issue_then_fail(first, taking=1)
    assert not Invoice.objects.exists()
    assert not OutboxMessage.objects.filter(task_name=RENDER_TASK).exists()
    # when
    issued = invoice_issue(payment_id=str(second.pk))
    retried = invoice_issue(payment_id=str(first.pk))
    # then: number 1 was given back
    assert issued is not None
    assert retried is not None
    assert (issued.sequence, retried.sequence) == (1, 2)
    assert InvoiceCounter.objects.get(year=_year()).last_number == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_issuers_take_sequential_numbers_without_gaps_and_rollbacks_give_theirs_back() -> (
    None
):
    # given: 8 captured payments, and 2 more whose issuers fail after numbering
    payments = [captured_payment() for _ in range(8)]
    doomed = [captured_payment() for _ in range(2)]

    def issue(payment: Payment) -> Any:
        return lambda: invoice_issue(payment_id=str(payment.pk))

    def issue_then_fail(payment: Payment) -> Any:
        return lambda: _issue_then_fail(payment)

    # when: all of them at once, and each order's issuer three times over
    outcomes = run_concurrently(
        *[issue(p) for p in payments for _ in range(3)],
        *[issue_then_fail(p) for p in doomed],
    )
    # then
    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 2
    assert all(isinstance(error, IssueFailedAfterNumberingError) for error in errors)
    year = _year()
    assert _sequences() == list(range(1, 9))
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [
        invoice_number_format(year=year, sequence=n) for n in range(1, 9)
    ]
    assert set(Invoice.objects.values_list("order_id", flat=True)) == {p.order_id for p in payments}
    assert InvoiceCounter.objects.get(year=year).last_number == 8
    # numbers follow the order they were issued in
    by_number = list(Invoice.objects.order_by("sequence").values_list("issued_at", flat=True))
    assert by_number == sorted(by_number)
    # the failed ones, issued again, continue the sequence
    for payment in doomed:
        invoice_issue(payment_id=str(payment.pk))
    assert _sequences() == list(range(1, 11))


@pytest.mark.django_db(transaction=True)
def test_an_issuer_waits_for_the_years_counter_and_takes_the_number_after_the_holder() -> None:
    # given: another transaction issued number 1 and has not committed yet
    first, second = captured_payment(), captured_payment()
    with transaction_held(lambda: invoice_issue(payment_id=str(first.pk))) as held:
        assert held.value is not None
        assert held.value.sequence == 1
        # when: a second issuer starts meanwhile
        results: list[Any] = []
        issuer = threading.Thread(target=_issue_in_thread, args=(second, results))
        issuer.start()
        # then: it waits on the year's counter row
        lock_wait_for()
        assert issuer.is_alive()
    issuer.join(timeout=30)
    assert [invoice.sequence for invoice in results] == [2]
    assert _sequences() == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_repeated_or_redelivered_job_makes_one_invoice_one_pdf_and_one_email(
    celery_worker: Any, media: Path
) -> None:
    # given: the issue job of one payment enqueued twice
    payment = captured_payment()
    with task_runs_counted(ISSUE_TASK) as issues, task_runs_counted(RENDER_TASK) as renders:
        with use_case_transaction():
            first = outbox_enqueue(task_name=ISSUE_TASK, payload={"payment_id": str(payment.pk)})
            outbox_enqueue(task_name=ISSUE_TASK, payload={"payment_id": str(payment.pk)})
        issues.wait_for(2)
        # when: the broker delivers the first one again
        _redeliver(OutboxMessage.objects.get(pk=first.pk))
        issues.wait_for(3)
        invoice = invoice_rendered(payment.order)
        renders.wait_for(1)
    # then
    assert Invoice.objects.count() == 1
    assert (invoice.sequence, InvoiceCounter.objects.get(year=_year()).last_number) == (1, 1)
    assert OutboxMessage.objects.filter(task_name=RENDER_TASK).count() == 1
    assert [path.relative_to(media).as_posix() for path in media.rglob("*.pdf")] == [
        invoice.file.name
    ]
    assert Notification.objects.filter(kind="invoice_issued").count() == 1
    assert AuditEvent.objects.filter(action="invoice.issued").count() == 1
    assert AuditEvent.objects.filter(action="invoice.rendered").count() == 1
    # a render job delivered again after it settled does nothing
    with task_runs_counted(RENDER_TASK) as again:
        _redeliver(OutboxMessage.objects.get(task_name=RENDER_TASK))
        again.wait_for(1)
    reloaded = Invoice.objects.get()
    assert (reloaded.file.name, reloaded.rendered_at) == (invoice.file.name, invoice.rendered_at)
    assert AuditEvent.objects.filter(action="invoice.rendered").count() == 1
    assert Notification.objects.filter(kind="invoice_issued").count() == 1
