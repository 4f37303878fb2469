"""Invoices in Django admin: read-only, with a link to each stored PDF. The one write, rendering
a failed invoice again, is an action calling the same service as everything else."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from tally.identity.models import User
from tally.invoices import services
from tally.invoices.models import Invoice, InvoiceStatus
from tally.platform.admin import ReadOnlyAdmin
from tally.platform.exceptions import DomainError


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    # Amounts are integers of minor units of the invoice's currency.
    list_display = (
        "number",
        "status",
        "order",
        "currency",
        "total",
        "issued_at",
        "rendered_at",
        "failed_at",
    )
    list_filter = ("status", "year", "currency")
    search_fields = ("=number", "=order__number", "order__email", "=id")
    list_select_related = ("order",)
    ordering = ("-issued_at",)
    readonly_fields = ("pdf",)
    exclude = ("file",)
    actions = ("render_again",)

    def get_urls(self) -> list[URLPattern]:
        pdf = path(
            "<uuid:invoice_id>/pdf/",
            self.admin_site.admin_view(self.pdf_view),
            name="invoices_invoice_pdf",
        )
        return [pdf, *super().get_urls()]

    def pdf_view(self, request: HttpRequest, invoice_id: Any) -> FileResponse:
        """The stored PDF, for staff who may view invoices (never a storage URL)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.RENDERED).first()
        if invoice is None:
            raise Http404("No rendered invoice.")
        response = FileResponse(
            invoice.file.open("rb"),
            content_type="application/pdf",
            filename=f"{invoice.number}.pdf",
        )
        response["Cache-Control"] = "private, no-store"
        return response

    @admin.display(description="PDF")
    def pdf(self, invoice: Invoice) -> str:
        if invoice.status != InvoiceStatus.RENDERED:
            return "-"
        url = reverse("admin:invoices_invoice_pdf", kwargs={"invoice_id": invoice.pk})
        return format_html('<a href="{}">{}.pdf</a>', url, invoice.number)

    @admin.action(description="Render the selected failed invoices again", permissions=("action",))
    def render_again(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        actor = request.user
        assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
        done, refused = 0, 0
        for invoice in queryset:
            try:
                services.invoice_render_retry(actor=actor, invoice=invoice)
                done += 1
            except DomainError as error:
                refused += 1
                self.message_user(request, f"{invoice.number}: {error.detail}", messages.WARNING)
        self.message_user(
            request, f"Rendering again: {done}. Refused: {refused}.", messages.SUCCESS
        )
