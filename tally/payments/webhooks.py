"""SSLCommerz's HTTP interface: the IPN (server to server) and the pages the buyer's browser
comes back to (success, fail, cancel).

Both verify the notification's signature with the store password before anything else and
never settle a payment themselves: a verified notice is recorded with a validation job
(``tally.payments.sslcommerz_jobs``), which asks the gateway and settles once. Answers:
200 (queued, a duplicate, or a payment already settled: nothing to do), 400
``webhook_invalid`` (a missing or wrong signature: nothing written), 404 (not a payment of
this gateway). No authentication: the signature is the credential.
"""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.utils import extend_schema
from prometheus_client import Counter
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from tally.payments.exceptions import WebhookInvalidError
from tally.payments.gateways import WebhookNotice, gateway_get
from tally.payments.gateways.sslcommerz import payment_id_of
from tally.payments.models import CAPTURED_STATES, Payment, PaymentStatus
from tally.payments.sslcommerz_jobs import GATEWAY, WEBHOOKS, sslcommerz_notice_record
from tally.platform.api.schema import PROBLEM_MEDIA_TYPES, ProblemSerializer
from tally.platform.api.views import ApiView
from tally.platform.exceptions import NotFoundError

logger = logging.getLogger(__name__)

WEBHOOKS_REFUSED = Counter(
    "tally_payment_webhooks_refused_total",
    "SSLCommerz notifications refused before anything was written (bad or missing signature).",
    ["source"],
)
_MAX_FIELDS = 100
# Not a payment of this gateway (documented: these routes have no id in their path).
NOT_FOUND = (404, PROBLEM_MEDIA_TYPES[0])


class IpnInputSerializer(serializers.Serializer):
    """The fields Tally reads of a notification (the gateway sends more; all are kept)."""

    tran_id = serializers.CharField(help_text="The payment's transaction id.")
    val_id = serializers.CharField(required=False, help_text="Validation id (paid only).")
    amount = serializers.CharField(required=False)
    currency = serializers.CharField(required=False)
    status = serializers.CharField(help_text="VALID, FAILED, CANCELLED, …")
    verify_sign = serializers.CharField()
    verify_key = serializers.CharField(help_text="The signed fields, comma separated.")


class IpnOutputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["queued", "duplicate", "ignored", "late_payment"],
        help_text="queued: the payment is validated with the gateway now; duplicate: this "
        "notice was already queued; ignored: the payment is settled already.",
    )
    payment_id = serializers.UUIDField()


class ReturnOutputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["success", "fail", "cancel"])
    payment_id = serializers.UUIDField()
    payment_status = serializers.CharField()
    payment_url = serializers.CharField(help_text="The payment (with the order's token).")
    detail = serializers.CharField()


def _form(request: Request) -> dict[str, str]:
    """The request's form fields, else its query string: one string per name."""
    source: Any = request.data if hasattr(request.data, "getlist") else {}
    if not source:
        source = request.query_params
    return {str(key): str(source.get(key, "")) for key in list(source.keys())[:_MAX_FIELDS]}


def _verified(data: dict[str, str], *, source: str) -> WebhookNotice:
    try:
        return gateway_get(GATEWAY).verify_webhook(data)
    except WebhookInvalidError:
        WEBHOOKS_REFUSED.labels(source).inc()
        logger.warning(
            "sslcommerz notification refused: bad signature",
            extra={"source": source, "tran_id": data.get("tran_id", "")[:64]},
        )
        raise


class _SslcommerzView(ApiView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    parser_classes = (FormParser, MultiPartParser)


class SslcommerzIpnApi(_SslcommerzView):
    # The gateway's servers call it; a forged call is refused before any database work.
    throttle_classes = ()

    @extend_schema(
        request={"application/x-www-form-urlencoded": IpnInputSerializer},
        responses={200: IpnOutputSerializer, NOT_FOUND: ProblemSerializer},
        tags=["payments"],
        operation_id="payments_sslcommerz_ipn",
        description="SSLCommerz's instant payment notification (form-encoded, signed with "
        "verify_sign/verify_key). A verified notice of a payment in flight is recorded and "
        "validated with the gateway by a job, which settles the payment once. 400 "
        "`webhook_invalid`: bad signature, nothing written. 404: no such SSLCommerz payment.",
    )
    def post(self, request: Request) -> Response:
        notice = _verified(_form(request), source="ipn")
        outcome = sslcommerz_notice_record(notice=notice, source="ipn")
        WEBHOOKS.labels("ipn", outcome).inc()
        return Response({"outcome": outcome, "payment_id": notice.payment_id})


_DETAILS = {
    "success": "Thank you: the payment is being confirmed with the gateway.",
    "fail": "The payment did not go through; the order can be paid again.",
    "cancel": "The payment was cancelled; the order can be paid again.",
}


def _detail(outcome: str, payment: Payment) -> str:
    if payment.status in CAPTURED_STATES:
        return "Paid: the order is confirmed."
    if payment.status == PaymentStatus.FAILED and payment.failure_reason == "amount_mismatch":
        return "The amount paid does not match the order; the payment was rejected."
    return _DETAILS[outcome]


class SslcommerzReturnApi(_SslcommerzView):
    """Where the gateway sends the buyer's browser back (it POSTs the signed fields)."""

    outcome = "success"

    @extend_schema(
        request={"application/x-www-form-urlencoded": IpnInputSerializer},
        responses={200: ReturnOutputSerializer, NOT_FOUND: ProblemSerializer},
        tags=["payments"],
        description="The buyer's browser back from SSLCommerz, with the signed transaction "
        "fields: verified and recorded like the IPN (the IPN may come later or not at all), "
        "then the payment's status. 400 `webhook_invalid`: bad signature.",
    )
    def post(self, request: Request) -> Response:
        data = _form(request)
        if data.get("verify_sign"):
            notice = _verified(data, source=self.outcome)
            recorded = sslcommerz_notice_record(notice=notice, source=self.outcome)
            WEBHOOKS.labels(self.outcome, recorded).inc()
        payment_id = payment_id_of(data.get("tran_id", ""))
        payment = (
            Payment.objects.filter(pk=payment_id, gateway=GATEWAY).first() if payment_id else None
        )
        if payment is None:
            raise NotFoundError("No such payment.")
        return Response(
            {
                "outcome": self.outcome,
                "payment_id": str(payment.pk),
                "payment_status": payment.status,
                "payment_url": f"/api/v1/payments/{payment.pk}/",
                "detail": _detail(self.outcome, payment),
            }
        )

    @extend_schema(
        responses={200: ReturnOutputSerializer, NOT_FOUND: ProblemSerializer},
        tags=["payments"],
        description="The same, with the fields in the query string.",
    )
    def get(self, request: Request) -> Response:
        return self.post(request)


class SslcommerzSuccessApi(SslcommerzReturnApi):
    outcome = "success"


class SslcommerzFailApi(SslcommerzReturnApi):
    outcome = "fail"


class SslcommerzCancelApi(SslcommerzReturnApi):
    outcome = "cancel"
