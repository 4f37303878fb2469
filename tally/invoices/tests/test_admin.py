"""Invoices are readable in the admin (found by number, their PDF behind the admin's login)
and cannot be written there; the one action renders a failed invoice again."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from tally.identity.models import User
from tally.identity.tests.factories import CustomerFactory
from tally.invoices.models import Invoice, InvoiceStatus
from tally.invoices.services import RENDER_TASK, invoice_issue
from tally.invoices.tests.helpers import captured_payment
from tally.platform.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db

URL = "/admin/invoices/invoice/"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rendered_invoice() -> Invoice:
    invoice = invoice_issue(payment_id=str(captured_payment().pk))
    assert invoice is not None
    name = default_storage.save(f"invoices/test/{invoice.number}.pdf", ContentFile(b"%PDF-1.7 x"))
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.RENDERED, file=name, rendered_at=timezone.now()
    )
    invoice.refresh_from_db()
    return invoice


def test_admins_find_invoices_and_open_their_pdf(admin_user: User) -> None:
    # given
    invoice = _rendered_invoice()
    client = _client(admin_user)
    # when
    listed = client.get(URL, {"q": invoice.number})
    detail = client.get(f"{URL}{invoice.pk}/change/")
    pdf = client.get(f"{URL}{invoice.pk}/pdf/")
    # then
    assert listed.status_code == 200
    assert invoice.number in listed.content.decode()
    assert detail.status_code == 200
    assert f"{URL}{invoice.pk}/pdf/" in detail.content.decode()
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content) == b"%PDF-1.7 x"


def test_only_staff_open_an_invoice_pdf_in_the_admin(admin_user: User) -> None:
    # given
    invoice = _rendered_invoice()
    customer = CustomerFactory().user
    # when
    anonymous = Client().get(f"{URL}{invoice.pk}/pdf/")
    as_customer = _client(customer).get(f"{URL}{invoice.pk}/pdf/")
    # then: both are sent to the admin's login
    assert anonymous.status_code == 302
    assert as_customer.status_code == 302


def test_invoices_cannot_be_added_changed_or_deleted_in_the_admin(admin_user: User) -> None:
    # given
    invoice = _rendered_invoice()
    client = _client(admin_user)
    # when
    added = client.post(f"{URL}add/", {"number": "INV-1-1"})
    changed = client.post(f"{URL}{invoice.pk}/change/", {"total": "1"})
    deleted = client.post(f"{URL}{invoice.pk}/delete/", {"post": "yes"})
    # then
    assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    invoice.refresh_from_db()
    assert (Invoice.objects.count(), invoice.status) == (1, InvoiceStatus.RENDERED)


def test_the_admin_action_renders_failed_invoices_again_and_refuses_others(
    admin_user: User,
) -> None:
    # given: one failed invoice and one rendered
    failed = invoice_issue(payment_id=str(captured_payment().pk))
    assert failed is not None
    Invoice.objects.filter(pk=failed.pk).update(
        status=InvoiceStatus.FAILED, failed_at=timezone.now(), last_error="OSError: disk full"
    )
    rendered = _rendered_invoice()
    renders_before = OutboxMessage.objects.filter(task_name=RENDER_TASK).count()
    # when
    response = _client(admin_user).post(
        URL,
        {"action": "render_again", "_selected_action": [str(failed.pk), str(rendered.pk)]},
        follow=True,
    )
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "Rendering again: 1. Refused: 1." in page
    failed.refresh_from_db()
    rendered.refresh_from_db()
    assert (failed.status, failed.failed_at) == (InvoiceStatus.ISSUED, None)
    assert rendered.status == InvoiceStatus.RENDERED
    assert OutboxMessage.objects.filter(task_name=RENDER_TASK).count() == renders_before + 1
