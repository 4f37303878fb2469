"""The invoice as a PDF: one pure function from an ``InvoiceDocument`` to bytes (fpdf2).

It reads nothing and writes nothing, so rendering is repeatable: the same document gives
the same text (the PDF's dates are the invoice's own). Text is set in DejaVu Sans, shipped
in ``fonts/`` (subset to Latin, Greek and Cyrillic) and embedded, so names in those
scripts print as written and any PDF reader can extract the text; a character the font
lacks is left out rather than failing the invoice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVuSans"
INK = (31, 41, 51)
MUTED = (82, 96, 109)
RULE = (228, 231, 235)
HEADING_FILL = (244, 245, 247)

# fpdf2 logs each glyph a font lacks; the invoice still renders without it.
logging.getLogger("fpdf.output").setLevel(logging.ERROR)
# fontTools logs every table it subsets at INFO.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Party:
    """A seller, a vendor or the buyer: a name and the lines printed under it."""

    name: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class InvoiceLine:
    service_title: str
    variant_name: str
    sku: str
    vendor_name: str
    quantity: int
    unit_price: str  # "12.50"
    line_total: str


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice shows, as text (amounts already "12.50")."""

    number: str
    issued_at: datetime
    order_number: str
    ordered_at: datetime
    seller: Party
    vendors: tuple[Party, ...]
    buyer: Party
    lines: tuple[InvoiceLine, ...]
    currency: str
    subtotal: str
    shipping: str
    tax: str
    total: str
    payment_method: str
    payment_reference: str
    paid_at: datetime | None


def _date(moment: datetime) -> str:
    return moment.strftime("%d %B %Y")


class _InvoicePdf(FPDF):
    def __init__(self, number: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.number = number

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.number} · page {self.page_no()} of {{nb}}", align=Align.C)


def _new_pdf(document: InvoiceDocument) -> _InvoicePdf:
    pdf = _InvoicePdf(document.number)
    pdf.add_font(FONT, "", FONTS_DIR / "DejaVuSans.ttf")
    pdf.add_font(FONT, "B", FONTS_DIR / "DejaVuSans-Bold.ttf")
    pdf.set_margins(left=15, top=15, right=15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_title(f"Invoice {document.number}")
    pdf.set_subject(f"Invoice {document.number} for order {document.order_number}")
    pdf.set_author(document.seller.name)
    pdf.set_creator(document.seller.name)
    pdf.set_lang("en")
    pdf.set_creation_date(document.issued_at)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    return pdf


def _party(pdf: FPDF, *, heading: str, party: Party, x: float, width: float) -> float:
    """Print a labelled party in a column at ``x``; return the y it ends at."""
    pdf.set_x(x)
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*MUTED)
    pdf.cell(width, 5, heading.upper(), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(width, 5, party.name, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    for line in party.details:
        if line:
            pdf.multi_cell(width, 4.5, line, new_x=XPos.LEFT, new_y=YPos.NEXT)
    return pdf.get_y()


def _header(pdf: FPDF, document: InvoiceDocument) -> None:
    top = pdf.get_y()
    pdf.set_font(FONT, "B", 22)
    pdf.cell(90, 11, "INVOICE", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    facts = (
        ("Invoice number", document.number),
        ("Invoice date", _date(document.issued_at)),
        ("Order number", document.order_number),
        ("Order date", _date(document.ordered_at)),
    )
    for label, value in facts:
        pdf.set_text_color(*MUTED)
        pdf.cell(32, 5, label)
        pdf.set_text_color(*INK)
        pdf.cell(58, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_end = pdf.get_y()
    pdf.set_y(top)
    right_end = _party(pdf, heading="Seller", party=document.seller, x=115, width=80)
    pdf.set_y(max(left_end, right_end) + 6)


def _parties(pdf: FPDF, document: InvoiceDocument) -> None:
    top = pdf.get_y()
    left_end = _party(pdf, heading="Bill to", party=document.buyer, x=15, width=90)
    pdf.set_y(top)
    right_end = top
    heading = "Sold by" if len(document.vendors) == 1 else "Sold by (vendors)"
    for index, vendor in enumerate(document.vendors):
        right_end = _party(
            pdf, heading=heading if index == 0 else "", party=vendor, x=115, width=80
        )
        pdf.set_y(right_end + 1)
    pdf.set_y(max(left_end, right_end) + 6)


def _lines(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font(FONT, size=8.5)
    headings = FontFace(emphasis="BOLD", fill_color=HEADING_FILL, color=INK)
    with pdf.table(
        col_widths=(60, 30, 32, 12, 23, 23),
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=headings,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        line_height=5,
        padding=1.2,
        repeat_headings=1,
    ) as table:
        table.row(
            (
                "Service",
                "Variant",
                "SKU",
                "Qty",
                "Unit price",
                "Amount",
            )
        )
        for line in document.lines:
            sold_by = f"\nby {line.vendor_name}" if line.vendor_name else ""
            table.row(
                (
                    f"{line.service_title}{sold_by}",
                    line.variant_name,
                    line.sku,
                    str(line.quantity),
                    line.unit_price,
                    line.line_total,
                )
            )
    pdf.ln(4)


def _totals(pdf: FPDF, document: InvoiceDocument) -> None:
    rows = (
        ("Subtotal", document.subtotal),
        ("Shipping", document.shipping),
        ("Tax", document.tax),
    )
    pdf.set_font(FONT, size=9)
    for label, value in rows:
        pdf.set_x(115)
        pdf.set_text_color(*MUTED)
        pdf.cell(45, 5.5, label)
        pdf.set_text_color(*INK)
        pdf.cell(35, 5.5, f"{value} {document.currency}", align=Align.R)
        pdf.ln()
    pdf.set_x(115)
    pdf.line(115, pdf.get_y() + 0.5, 195, pdf.get_y() + 0.5)
    pdf.ln(1.5)
    pdf.set_x(115)
    pdf.set_font(FONT, "B", 11)
    pdf.cell(45, 7, "Total")
    pdf.cell(35, 7, f"{document.total} {document.currency}", align=Align.R)
    pdf.ln(12)


def _payment(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*MUTED)
    pdf.cell(0, 5, "PAYMENT", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, size=9)
    paid = f"Paid in full on {_date(document.paid_at)}" if document.paid_at else "Paid in full"
    facts = (
        ("Status", paid),
        ("Method", document.payment_method),
        ("Reference", document.payment_reference),
    )
    for label, value in facts:
        pdf.set_text_color(*MUTED)
        pdf.cell(32, 5, label)
        pdf.set_text_color(*INK)
        pdf.multi_cell(0, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_font(FONT, size=8)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(
        0,
        4,
        f"All amounts in {document.currency}. {document.seller.name} issues this invoice on "
        "behalf of the vendors named above, each of whom supplies the lines under its name.",
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )


def invoice_pdf_render(document: InvoiceDocument) -> bytes:
    """The PDF of ``document`` (A4, text extractable, fonts embedded)."""
    pdf = _new_pdf(document)
    _header(pdf, document)
    _parties(pdf, document)
    _lines(pdf, document)
    _totals(pdf, document)
    _payment(pdf, document)
    return bytes(pdf.output())
