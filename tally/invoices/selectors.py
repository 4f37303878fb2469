"""Reading invoices: who may fetch an order's invoice, and what the invoice shows.

Who gets an order's invoice (``invoice_get_for_actor``):
- its buyer: the customer who placed it, or a guest presenting the order's access token;
- an admin;
- a vendor with lines in the order: 403 ``permission_denied`` (the invoice shows the buyer
  and every vendor's lines; a vendor reads its own lines on the order);
- anyone else: 404 ``not_found``, as for the order itself (order ids do not leak).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from tally.identity.models import User, VendorProfile
from tally.invoices.exceptions import InvoiceNotReadyError
from tally.invoices.models import Invoice, InvoiceStatus
from tally.invoices.pdf import InvoiceDocument, InvoiceLine, Party
from tally.orders.models import Order, OrderStatus
from tally.orders.selectors import ITEM_ORDERING, order_get_for_actor
from tally.payments.models import PaymentMethod
from tally.platform.exceptions import PermissionDeniedError
from tally.platform.money import from_minor

# Orders that were paid (an invoice exists or is on its way).
PAID_STATES = (
    OrderStatus.CONFIRMED,
    OrderStatus.COMPLETED,
    OrderStatus.REFUNDED,
    OrderStatus.PARTIALLY_REFUNDED,
)


def invoice_get_for_actor(
    *, actor: User | None, order_id: UUID | str, access_token: str | None = None
) -> Invoice:
    """The rendered invoice of order ``order_id``, for its buyer or an admin.

    404 ``not_found`` for an order the caller cannot see, 403 ``permission_denied`` for
    its vendors, 404 ``invoice_not_ready`` while the order is unpaid or its PDF is not
    stored yet.
    """
    access = order_get_for_actor(actor=actor, order_id=order_id, access_token=access_token)
    if access.relation == "vendor":
        raise PermissionDeniedError(
            "An invoice is for the buyer and admins; vendors read their lines on the order."
        )
    invoice = Invoice.objects.filter(order=access.order).first()
    if invoice is not None and invoice.status == InvoiceStatus.RENDERED:
        return invoice
    if access.order.status not in PAID_STATES:
        raise InvoiceNotReadyError(
            "This order is not paid; its invoice is issued once it is.",
            order_status=access.order.status,
        )
    raise InvoiceNotReadyError(
        "The invoice is being prepared; try again in a few seconds.",
        order_status=access.order.status,
    )


def _address_lines(address: dict[str, Any]) -> tuple[str, ...]:
    def part(key: str) -> str:
        value = address.get(key)
        return str(value).strip() if value else ""

    place = " ".join(filter(None, (part("city"), part("region"), part("postal_code"))))
    return tuple(filter(None, (part("line1"), part("line2"), place, part("country"))))


def _vendor_party(vendor: VendorProfile) -> Party:
    return Party(
        name=vendor.business_name, details=tuple(filter(None, (vendor.address, vendor.phone)))
    )


def _payment_method(invoice: Invoice) -> str:
    payment = invoice.payment
    label = str(PaymentMethod(payment.method).label)
    return f"{label} ending {payment.card_last4}" if payment.card_last4 else label


def invoice_document_of(invoice: Invoice) -> InvoiceDocument:
    """What ``invoice`` shows: the seller, its order's vendors, buyer and lines (as
    snapshotted at checkout), the amounts copied when it was issued, and the payment."""
    order: Order = invoice.order
    items = list(order.items.select_related("vendor").order_by(*ITEM_ORDERING))
    vendors: dict[Any, VendorProfile] = {}
    for item in items:
        vendors.setdefault(item.vendor_id, item.vendor)
    seller = Party(
        name=str(settings.INVOICE_SELLER_NAME),
        details=tuple(
            filter(
                None,
                (
                    str(settings.INVOICE_SELLER_ADDRESS),
                    f"Tax ID {settings.INVOICE_SELLER_TAX_ID}"
                    if settings.INVOICE_SELLER_TAX_ID
                    else "",
                ),
            )
        ),
    )
    buyer = Party(
        name=order.name,
        details=(order.email, order.phone, *_address_lines(order.shipping_address or {})),
    )
    payment = invoice.payment
    return InvoiceDocument(
        number=invoice.number,
        # Dates as of TIME_ZONE, the zone whose year numbers the invoice.
        issued_at=timezone.localtime(invoice.issued_at),
        order_number=order.number,
        ordered_at=timezone.localtime(order.created_at),
        seller=seller,
        vendors=tuple(_vendor_party(vendor) for vendor in vendors.values()),
        buyer=buyer,
        lines=tuple(
            InvoiceLine(
                service_title=item.service_title,
                variant_name=item.variant_name,
                sku=item.sku,
                vendor_name=item.vendor.business_name,
                quantity=item.quantity,
                unit_price=from_minor(item.unit_price),
                line_total=from_minor(item.line_total),
            )
            for item in items
        ),
        currency=invoice.currency,
        subtotal=from_minor(invoice.subtotal),
        shipping=from_minor(invoice.shipping),
        tax=from_minor(invoice.tax),
        total=from_minor(invoice.total),
        payment_method=_payment_method(invoice),
        payment_reference=payment.gateway_reference or str(payment.pk),
        paid_at=timezone.localtime(payment.captured_at) if payment.captured_at else None,
    )
