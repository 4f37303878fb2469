"""Paid orders for the invoice tests, and reading an invoice PDF's text."""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.utils import timezone
from pypdf import PdfReader

from tally.catalog.testing import service_make, variant_make
from tally.identity.models import CustomerProfile
from tally.identity.tests.factories import VendorFactory
from tally.invoices.models import Invoice, InvoiceStatus
from tally.orders.models import Order
from tally.orders.testing import order_confirm_for_test, order_place_for_test
from tally.payments.models import Payment, PaymentStatus
from tally.platform.testing.race import wait_until


def two_vendor_order(customer: CustomerProfile | None = None) -> Any:
    """A placed order of 2 x 10.00 from one vendor and 1 x 25.50 from another."""
    plumber = VendorFactory(business_name="Pipe Dreams Plumbing")
    cleaner = VendorFactory(business_name="Sparkle Cleaning Ltd")
    first = variant_make(
        service=service_make(vendor=plumber, title="Leak repair"),
        price=10_00,
        name="Standard visit",
        sku=f"LEAK-{uuid.uuid4().hex[:6].upper()}",
    )
    second = variant_make(
        service=service_make(vendor=cleaner, title="Home cleaning"),
        price=25_50,
        name="Deep clean",
        sku=f"CLEAN-{uuid.uuid4().hex[:6].upper()}",
    )
    return order_place_for_test(lines=[(first, 2), (second, 1)], customer=customer)


def captured_payment(customer: CustomerProfile | None = None) -> Payment:
    """An order confirmed and its payment captured, as a capture leaves them (without the
    ledger movements and without the invoice job: tests run the invoice services)."""
    order: Order = order_confirm_for_test(two_vendor_order(customer).order)
    return Payment.objects.create(
        order=order,
        method="credit_card",
        gateway="sandbox",
        status=PaymentStatus.CAPTURED,
        amount=order.total,
        currency=order.currency,
        card_last4="4242",
        gateway_reference=f"sbx_{uuid.uuid4().hex[:12]}",
        captured_at=timezone.now(),
    )


def invoice_rendered(order: Order, *, timeout_seconds: float = 30) -> Invoice:
    """Wait for the worker to render ``order``'s invoice."""
    return wait_until(
        lambda: Invoice.objects.filter(order=order, status=InvoiceStatus.RENDERED).first(),
        timeout_seconds=timeout_seconds,
        message=f"the invoice of {order.number} was not rendered",
    )


def pdf_text(content: bytes) -> str:
    """The text of every page of a PDF, as a reader extracts it."""
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def response_bytes(response: Any) -> bytes:
    return b"".join(response.streaming_content)
