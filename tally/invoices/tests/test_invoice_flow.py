"""From payment to invoice: a real Celery worker issues, renders and stores the invoice after
the capture commits, the buyer fetches the PDF and receives it by email (a real SMTP
server); a rendering that keeps failing ends failed and an admin renders it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from tally.identity.tests.factories import AdminFactory, CustomerFactory
from tally.identity.tests.fixtures import authenticate
from tally.invoices.models import Invoice, InvoiceStatus
from tally.invoices.services import invoice_render_retry
from tally.invoices.tests.helpers import (
    invoice_rendered,
    pdf_text,
    response_bytes,
    two_vendor_order,
)
from tally.notifications.models import Notification, NotificationStatus
from tally.notifications.tests.smtp_server import SmtpServer
from tally.offers.testing import customer_fund
from tally.orders.models import Order
from tally.platform.money import from_minor
from tally.platform.testing.race import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CARD_OK = "4242 4242 4242 4242"


def _jobs(outcome: str) -> float:
    return REGISTRY.get_sample_value("tally_invoice_jobs_total", {"outcome": outcome}) or 0.0


def _invoice_email(smtp: SmtpServer, number: str) -> Any:
    return wait_until(
        lambda: next((m for m in smtp.messages if number in str(m["Subject"])), None),
        timeout_seconds=30,
        message=f"no email with invoice {number}",
    )


def test_a_wallet_payment_gets_a_pdf_invoice_served_to_the_customer_and_emailed(
    celery_worker: Any, smtp: SmtpServer, media: Path
) -> None:
    # given: a customer with funds and an order from two vendors
    customer = CustomerFactory(user__email="ada@example.com")
    customer_fund(customer, 100_00)
    order = two_vendor_order(customer).order
    client = authenticate(APIClient(), customer.user)
    rendered_before = _jobs("rendered")
    # when: the customer pays from its wallet
    paid = client.post(
        f"/api/v1/orders/{order.pk}/process-payment/", {"method": "wallet"}, format="json"
    )
    assert paid.status_code == 201, paid.json()
    # then: the worker issues and renders the invoice
    invoice = invoice_rendered(order)
    year = invoice.issued_at.year
    assert (invoice.number, invoice.year, invoice.sequence) == (f"INV-{year}-000001", year, 1)
    assert (invoice.currency, invoice.subtotal, invoice.total) == ("USD", 45_50, order.total)
    assert str(invoice.payment_id) == paid.json()["id"]
    assert invoice.file.name.startswith(f"invoices/{year}/INV-{year}-000001-")
    assert (media / invoice.file.name).is_file()
    # and the customer downloads it
    response = client.get(f"/api/v1/orders/{order.pk}/invoice/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="INV-{year}-000001.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    content = response_bytes(response)
    assert content.startswith(b"%PDF-")
    with default_storage.open(invoice.file.name, "rb") as stored:
        assert stored.read() == content
    text = pdf_text(content)
    total = from_minor(order.total)
    for fact in (
        "INVOICE",
        f"INV-{year}-000001",
        order.number,
        "Tally marketplace",
        "Pipe Dreams Plumbing",
        "Sparkle Cleaning Ltd",
        order.name,
        "ada@example.com",
        "221B Baker Street",
        "Leak repair",
        "Standard visit",
        "Home cleaning",
        "Deep clean",
        "20.00",
        "25.50",
        "45.50",
        f"{total} USD",
        "Wallet",
        f"wallet_{invoice.payment_id.hex}",
    ):
        assert fact in text, fact
    # and it was emailed to the customer with the PDF attached
    message = _invoice_email(smtp, invoice.number)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == f"Your invoice {invoice.number} for order {order.number}"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    assert attachment.get_content() == content
    sent = wait_until(
        lambda: Notification.objects.filter(
            kind="invoice_issued", status=NotificationStatus.SENT
        ).first()
    )
    assert (sent.user_id, sent.dedup_key) == (customer.user_id, f"invoice_issued:{invoice.pk}")
    assert _jobs("rendered") == rendered_before + 1


def test_a_guest_paying_by_card_reads_the_invoice_with_its_token_and_gets_it_by_email(
    celery_worker: Any, smtp: SmtpServer
) -> None:
    # given: a guest's order
    placed = two_vendor_order()
    order = placed.order
    # when: the guest pays by card (the worker calls the sandbox gateway, then invoices)
    paid = APIClient().post(
        f"/api/v1/orders/{order.pk}/process-payment/",
        {"method": "credit_card", "card_number": CARD_OK},
        format="json",
        HTTP_ORDER_TOKEN=placed.access_token,
    )
    assert paid.status_code == 202, paid.json()
    # then
    invoice = invoice_rendered(order)
    url = f"/api/v1/orders/{order.pk}/invoice/"
    by_header = APIClient().get(url, HTTP_ORDER_TOKEN=placed.access_token)
    by_query = APIClient().get(url, {"token": placed.access_token})
    assert (by_header.status_code, by_query.status_code) == (200, 200)
    content = response_bytes(by_header)
    assert content == response_bytes(by_query)
    text = pdf_text(content)
    assert order.number in text
    assert f"{from_minor(order.total)} USD" in text
    assert "Credit card ending 4242" in text
    message = _invoice_email(smtp, invoice.number)
    assert message["To"] == "guest@example.com"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content() == content
    assert Notification.objects.get(kind="invoice_issued").user_id is None


def test_rendering_that_keeps_failing_ends_failed_and_an_admin_renders_it_again(
    celery_worker: Any, settings: Any, tmp_path: Path
) -> None:
    # given: a storage that cannot write (its root is a file)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    settings.MEDIA_ROOT = str(blocked)
    settings.INVOICE_RENDER_RETRY_SECONDS = 0.01
    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    order = two_vendor_order(customer).order
    client = authenticate(APIClient(), customer.user)
    failed_before = _jobs("failed")
    # when
    client.post(f"/api/v1/orders/{order.pk}/process-payment/", {"method": "wallet"})
    # then: every attempt fails, the invoice keeps its number and is marked failed
    failed = wait_until(
        lambda: Invoice.objects.filter(order=order, status=InvoiceStatus.FAILED).first(),
        timeout_seconds=30,
    )
    assert failed.number.endswith("-000001")
    assert failed.file.name == ""
    assert "Error" in failed.last_error
    assert _jobs("failed") == failed_before + 1
    not_ready = client.get(f"/api/v1/orders/{order.pk}/invoice/")
    assert (not_ready.status_code, not_ready.json()["code"]) == (404, "invoice_not_ready")
    assert not Notification.objects.filter(kind="invoice_issued").exists()
    # when: the storage is back and an admin renders it again
    settings.MEDIA_ROOT = str(tmp_path / "media-again")
    invoice_render_retry(actor=AdminFactory(), invoice=failed)
    # then: the same number, rendered and served
    rendered = invoice_rendered(order)
    assert (rendered.pk, rendered.number, rendered.failed_at) == (failed.pk, failed.number, None)
    served = client.get(f"/api/v1/orders/{order.pk}/invoice/")
    assert served.status_code == 200
    assert failed.number in pdf_text(response_bytes(served))
    assert Invoice.objects.count() == 1
    assert Order.objects.get(pk=order.pk).status == "confirmed"
