"""Invoices HTTP interface: an order's invoice as a PDF.

Views only translate HTTP: call one selector, stream the stored file.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from tally.invoices import selectors
from tally.orders.http import TOKEN_PARAMETERS, order_access_token, request_caller
from tally.platform.api.schema import PROBLEM_MEDIA_TYPES, ProblemSerializer
from tally.platform.api.views import ApiView

PDF_CONTENT_TYPE = "application/pdf"


class ProblemsWhateverTheAccept(BaseContentNegotiation):
    """The one success body is the PDF (a plain file response, no renderer), and errors
    are problem+json: a client that sends ``Accept: application/pdf`` gets the problem
    details of an error rather than a 406."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


class OrderInvoiceApi(ApiView):
    # The buyer (customer, or guest with the order's token) and admins; the selector decides.
    permission_classes = (AllowAny,)
    content_negotiation_class = ProblemsWhateverTheAccept

    @extend_schema(
        parameters=TOKEN_PARAMETERS,
        responses={
            (200, PDF_CONTENT_TYPE): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="The invoice (PDF)."
            ),
            # A bad or expired access token, and the order's vendors.
            (401, PROBLEM_MEDIA_TYPES[0]): ProblemSerializer,
            (403, PROBLEM_MEDIA_TYPES[0]): ProblemSerializer,
        },
        tags=["invoices"],
        operation_id="orders_invoice",
        description="The invoice of a paid order as a PDF (`Content-Disposition: inline` with "
        "the invoice number as file name): for its buyer (customer, or guest with the "
        "token) and admins. 404 `invoice_not_ready` while the order is unpaid or the invoice "
        "is being prepared (it is ready seconds after payment); 403 for the order's "
        "vendors; anyone else 404 `not_found`.",
    )
    def get(self, request: Request, order_id: UUID) -> FileResponse:
        invoice = selectors.invoice_get_for_actor(
            actor=request_caller(request),
            order_id=order_id,
            access_token=order_access_token(request),
        )
        response = FileResponse(
            invoice.file.open("rb"),
            content_type=PDF_CONTENT_TYPE,
            filename=f"{invoice.number}.pdf",
        )
        # It holds the buyer's details and may be fetched with a token in the URL.
        response["Cache-Control"] = "private, no-store"
        return response
