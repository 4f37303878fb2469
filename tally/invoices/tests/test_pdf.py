"""The PDF itself: what it prints, in which scripts, and that a reader extracts it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from pypdf import PdfReader

from tally.invoices.pdf import InvoiceDocument, InvoiceLine, Party, invoice_pdf_render
from tally.invoices.tests.helpers import pdf_text


def _document(lines: int = 2, **fields: object) -> InvoiceDocument:
    values: dict[str, object] = {
        "number": "INV-2026-000042",
        "issued_at": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        "order_number": "ORD-7K2M-9QX4",
        "ordered_at": datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        "seller": Party("Tally marketplace", ("1 Market Street, London", "Tax ID GB123456789")),
        "vendors": (
            Party("Pipe Dreams Plumbing", ("12 Tap Lane, Leeds", "+442079460000")),
            Party("Sparkle Cleaning Ltd"),
        ),
        "buyer": Party(
            "Zoë Łukasiewicz",
            ("zoe@example.com", "+447700900123", "221B Baker Street", "London NW1 6XE", "GB"),
        ),
        "lines": tuple(
            InvoiceLine(
                service_title=f"Leak repair {n}",
                variant_name="Standard visit",
                sku=f"LEAK-STD-{n}",
                vendor_name="Pipe Dreams Plumbing",
                quantity=2,
                unit_price="10.00",
                line_total="20.00",
            )
            for n in range(1, lines + 1)
        ),
        "currency": "USD",
        "subtotal": "40.00",
        "shipping": "3.00",
        "tax": "2.15",
        "total": "45.15",
        "payment_method": "Credit card ending 4242",
        "payment_reference": "sbx_0123456789",
        "paid_at": datetime(2026, 12, 1, 9, 59, tzinfo=UTC),
    }
    values.update(fields)
    return InvoiceDocument(**values)


def test_the_pdf_shows_every_part_of_the_invoice() -> None:
    # when
    content = invoice_pdf_render(_document())
    # then
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    assert reader.metadata is not None
    assert reader.metadata.title == "Invoice INV-2026-000042"
    text = pdf_text(content)
    for fact in (
        "INVOICE",
        "Invoice number INV-2026-000042",
        "Invoice date 01 December 2026",
        "Order number ORD-7K2M-9QX4",
        "Order date 30 November 2026",
        "Tally marketplace",
        "Tax ID GB123456789",
        "Pipe Dreams Plumbing",
        "12 Tap Lane, Leeds",
        "Sparkle Cleaning Ltd",
        "Zoë Łukasiewicz",
        "zoe@example.com",
        "221B Baker Street",
        "London NW1 6XE",
        "Leak repair 1",
        "LEAK-STD-2",
        "Standard visit",
        "Subtotal 40.00 USD",
        "Shipping 3.00 USD",
        "Tax 2.15 USD",
        "Total 45.15 USD",
        "Paid in full on 01 December 2026",
        "Credit card ending 4242",
        "sbx_0123456789",
    ):
        assert fact in text, fact


def test_names_in_other_scripts_print_and_missing_glyphs_do_not_fail_the_invoice() -> None:
    # given: Cyrillic and Greek (in the font) and Chinese (not in it)
    document = _document(
        buyer=Party("Анна Каренина", ("Αθήνα", "李小龍")),
        vendors=(Party("Ωmega Services"),),
    )
    # when
    text = pdf_text(invoice_pdf_render(document))
    # then
    assert "Анна Каренина" in text
    assert "Αθήνα" in text
    assert "Ωmega Services" in text


def test_a_long_order_runs_over_pages_with_numbered_footers() -> None:
    # when
    content = invoice_pdf_render(_document(lines=60))
    # then
    reader = PdfReader(io.BytesIO(content))
    pages = len(reader.pages)
    assert pages >= 2
    last = reader.pages[-1].extract_text()
    assert f"page {pages} of {pages}" in last
    assert "Total 45.15 USD" in last
    text = pdf_text(content)
    assert all(f"LEAK-STD-{n}" in text for n in range(1, 61))
