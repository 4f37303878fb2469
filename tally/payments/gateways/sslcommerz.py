"""SSLCommerz: hosted checkout (API v4), its IPN, the validation and query APIs, refunds.

The protocol, as Tally speaks it (``SSLCOMMERZ_API_URL`` is ``https://sandbox.sslcommerz.com``
or ``https://securepay.sslcommerz.com``; in development and tests the local sandbox,
``tally/payments/sslcommerz_sandbox.py``):

- **Session** ``POST /gwprocess/v4/api.php`` (form-encoded): ``store_id``, ``store_passwd``,
  ``total_amount`` (``"50.78"``), ``currency``, ``tran_id`` (at most 30 characters: the
  payment id, see :func:`tran_id_of`), ``success_url``/``fail_url``/``cancel_url`` (the
  buyer's browser comes back there), ``ipn_url`` (the gateway posts the notification
  there), ``cus_*``, ``product_*``, ``shipping_method``. Answer (JSON): ``status``
  ``SUCCESS`` with ``sessionkey`` and ``GatewayPageURL`` (where the buyer pays), or
  ``FAILED`` with ``failedreason``.
- **IPN** (form-encoded POST to ``ipn_url``): ``tran_id``, ``val_id``, ``amount``,
  ``currency``, ``status`` (``VALID``, ``FAILED``, ``CANCELLED``, …), ``bank_tran_id``,
  ``currency_type``/``currency_amount`` (the session's own currency and amount when the
  gateway converted to BDT), …, signed: ``verify_key`` lists the signed fields (comma
  separated) and ``verify_sign`` is the MD5 (hex) of ``key=value`` pairs joined by ``&``,
  sorted by key, of those fields plus ``store_passwd`` = MD5 (hex) of the store password.
  A notification is only a hint: the payment is settled by what the validation API says.
- **Validation** ``GET /validator/api/validationserverAPI.php?val_id=&store_id=&store_passwd=
  &v=1&format=json``: ``status`` ``VALID`` (first validation), ``VALIDATED`` (again) or
  ``INVALID_TRANSACTION``; ``tran_id``, ``amount``, ``currency``, ``currency_type``,
  ``currency_amount``, ``bank_tran_id``, ``APIConnect``.
- **Transaction query** ``GET /validator/api/merchantTransIDvalidationAPI.php?tran_id=
  &store_id=&store_passwd=&format=json``: ``APIConnect``, ``no_of_trans_found``,
  ``element`` (each attempt: ``status``, ``val_id``, ``amount``, ``bank_tran_id``, …). The
  reconcile job asks this for payments whose notification never came.
- **Refund** (the same path) ``?bank_tran_id=&refund_trans_id=&refund_amount=
  &refund_remarks=&refe_id=&store_id=&store_passwd=&format=json``: ``status``
  ``success`` | ``processing`` | ``failed`` with ``refund_ref_id`` and ``errorReason``.

Amounts are compared exactly, in the session's currency (``currency_type`` and
``currency_amount`` when present, else ``currency`` and ``amount``). A connection error, a
timeout, a 5xx or an ``APIConnect`` other than ``DONE`` raises ``GatewayUnavailableError``
(the job retries); the store password only ever travels to the gateway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from tally.payments.exceptions import GatewayUnavailableError, WebhookInvalidError
from tally.payments.gateways import GatewayAnswer, GatewayPayment, WebhookNotice
from tally.payments.ledger_vocabulary import CLEARING_SSLCOMMERZ
from tally.platform.money import from_minor

logger = logging.getLogger(__name__)

SESSION_PATH = "/gwprocess/v4/api.php"
VALIDATION_PATH = "/validator/api/validationserverAPI.php"
QUERY_PATH = "/validator/api/merchantTransIDvalidationAPI.php"
IPN_PATH = "/api/v1/payments/webhooks/sslcommerz/"
RETURN_PATHS = {
    "success_url": "/api/v1/payments/sslcommerz/success/",
    "fail_url": "/api/v1/payments/sslcommerz/fail/",
    "cancel_url": "/api/v1/payments/sslcommerz/cancel/",
}
TRAN_ID_MAX_LENGTH = 30
_MAX_ANSWER_BYTES = 1 << 20

# Transaction statuses: paid; refused for good (with Tally's failure reason); still open.
PAID_STATUSES = frozenset({"VALID", "VALIDATED"})
REFUSED_STATUSES = {
    "FAILED": "card_declined",
    "CANCELLED": "cancelled_by_buyer",
    "EXPIRED": "session_expired",
    "INVALID_TRANSACTION": "invalid_transaction",
}
# A notification must sign at least these fields, or an unsigned field could ride along.
SIGNED_FIELDS_REQUIRED = ("tran_id", "status")
# What an answer keeps of the gateway's reply (never the store's credentials).
_ANSWER_FIELDS = (
    "status",
    "tran_id",
    "val_id",
    "amount",
    "currency",
    "currency_type",
    "currency_amount",
    "bank_tran_id",
    "card_type",
    "card_no",
    "risk_level",
    "risk_title",
    "tran_date",
    "error",
    "sessionkey",
    "failedreason",
    "refund_ref_id",
    "errorReason",
    "APIConnect",
    "no_of_trans_found",
)
_TRAN_ID = re.compile(r"^[a-z2-7]{26}$")


def tran_id_of(payment_id: str | uuid.UUID) -> str:
    """The ``tran_id`` of a payment: its UUID in base32 (26 characters, lower case), as
    SSLCommerz takes at most 30."""
    raw = uuid.UUID(str(payment_id)).bytes
    return base64.b32encode(raw).decode().rstrip("=").lower()


def payment_id_of(tran_id: str) -> str | None:
    """The payment id a ``tran_id`` stands for, or None if it is not one of Tally's."""
    if not _TRAN_ID.match(tran_id or ""):
        return None
    try:
        raw = base64.b32decode(tran_id.upper() + "======")
    except (binascii.Error, ValueError):
        return None
    return str(uuid.UUID(bytes=raw)) if len(raw) == 16 else None


def _md5(text: str) -> str:
    # The gateway's protocol fixes MD5 for its notification signature.
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324  # nosec B324  # the gateway's verify_sign protocol is MD5


def sslcommerz_signature(data: Mapping[str, str], *, store_password: str) -> str:
    """The ``verify_sign`` SSLCommerz computes for ``data``: the fields ``verify_key`` names
    (those present), plus ``store_passwd`` = md5(password), as ``key=value`` sorted by key and
    joined with ``&``, md5'd."""
    keys = [key for key in str(data.get("verify_key", "")).split(",") if key]
    signed = {key: str(data[key]) for key in keys if key in data}
    signed["store_passwd"] = _md5(store_password)
    return _md5("&".join(f"{key}={signed[key]}" for key in sorted(signed)))


def sslcommerz_amount(text: Any) -> int | None:
    """Minor units of a gateway amount (``"50.78"``, ``"50.7800"``, ``"51"``); None when it is
    not an exact amount of cents."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    cents = value * 100
    if cents != cents.to_integral_value():
        return None
    return int(cents)


def _answer_raw(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in _ANSWER_FIELDS if key in data}


def _paid_amount(record: Mapping[str, Any]) -> tuple[int | None, str]:
    """What a transaction says was paid, in the session's currency."""
    if record.get("currency_type") and record.get("currency_amount") not in (None, ""):
        return sslcommerz_amount(record["currency_amount"]), str(record["currency_type"])
    return sslcommerz_amount(record.get("amount")), str(record.get("currency", ""))


class SslcommerzGateway:
    name = "sslcommerz"
    clearing_kind = str(CLEARING_SSLCOMMERZ)

    def __init__(
        self,
        *,
        api_url: str | None = None,
        store_id: str | None = None,
        store_password: str | None = None,
        public_base_url: str | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        self.api_url = (api_url or settings.SSLCOMMERZ_API_URL).rstrip("/")
        self.store_id = store_id if store_id is not None else settings.SSLCOMMERZ_STORE_ID
        self.store_password = (
            store_password if store_password is not None else settings.SSLCOMMERZ_STORE_PASSWORD
        )
        self.public_base_url = (public_base_url or settings.SSLCOMMERZ_PUBLIC_BASE_URL).rstrip("/")
        self.timeout_seconds = float(
            settings.PAYMENTS_GATEWAY_TIMEOUT_SECONDS
            if timeout_seconds is None
            else timeout_seconds
        )

    # --- HTTP ------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One call; its JSON object. Transient failures raise GatewayUnavailableError.

        Plain urllib, on purpose: the validator APIs take the store password in the query
        string, so neither the URL nor a client library's request log may show it; errors
        name the path only."""
        url = f"{self.api_url}{path}"
        if not url.startswith(("https://", "http://")):
            raise GatewayUnavailableError("sslcommerz: SSLCOMMERZ_API_URL is not an http(s) URL")
        if params:
            url = f"{url}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(  # noqa: S310 - http(s) checked above
            url,
            data=urllib.parse.urlencode(data).encode() if data is not None else None,
            headers={
                "User-Agent": "Tally-Payments/1",
                "Accept": "application/json",
                **({"Content-Type": "application/x-www-form-urlencoded"} if data else {}),
            },
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310  # nosec B310  # http(s) checked above
                status, raw = int(response.status), response.read(_MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            status, raw = int(exc.code), exc.read(_MAX_ANSWER_BYTES)
        except TimeoutError as exc:
            raise GatewayUnavailableError(f"sslcommerz {path}: timeout") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GatewayUnavailableError(
                f"sslcommerz {path}: unreachable ({type(reason).__name__})"
            ) from None
        if status >= 500 or status in (408, 425, 429):
            raise GatewayUnavailableError(f"sslcommerz {path}: HTTP {status}")
        try:
            body = json.loads(raw)
        except ValueError:
            raise GatewayUnavailableError(f"sslcommerz {path}: HTTP {status}, not JSON") from None
        if not isinstance(body, dict):
            raise GatewayUnavailableError(f"sslcommerz {path}: answer is not a JSON object")
        return body

    def _credentials(self) -> dict[str, str]:
        return {"store_id": self.store_id, "store_passwd": self.store_password}

    def _api_call(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """A validator API call: ``APIConnect`` must be ``DONE`` (else transient)."""
        body = self._call(
            "GET", path, params={**params, **self._credentials(), "v": "1", "format": "json"}
        )
        connect = str(body.get("APIConnect", "DONE"))
        if connect != "DONE":
            raise GatewayUnavailableError(f"sslcommerz {path}: APIConnect {connect}")
        return body

    # --- starting a payment -----------------------------------------------------------------

    def session_fields(self, payment: GatewayPayment) -> dict[str, str]:
        """The session API's form for ``payment`` (without the credentials)."""
        address: Mapping[str, Any] = payment.buyer_address
        fields = {
            "total_amount": from_minor(payment.amount),
            "currency": payment.currency,
            "tran_id": tran_id_of(payment.payment_id),
            "ipn_url": f"{self.public_base_url}{IPN_PATH}",
            **{key: f"{self.public_base_url}{path}" for key, path in RETURN_PATHS.items()},
            "cus_name": payment.buyer_name or "Customer",
            "cus_email": payment.buyer_email or "buyer@example.com",
            "cus_phone": payment.buyer_phone or "N/A",
            "cus_add1": str(address.get("line1") or "N/A"),
            "cus_city": str(address.get("city") or "N/A"),
            "cus_postcode": str(address.get("postal_code") or "N/A"),
            "cus_country": str(address.get("country") or "N/A"),
            "shipping_method": "NO",
            "num_of_item": "1",
            "product_name": f"Order {payment.order_number}",
            "product_category": "services",
            "product_profile": "non-physical-goods",
            "value_a": payment.order_id,
            "value_b": payment.order_number,
        }
        return fields

    def initiate(
        self, payment: GatewayPayment, *, idempotency_key: str, attempt: int = 1
    ) -> GatewayAnswer:
        """Open a hosted session: a ``redirect`` answer (the session key, the page where the
        buyer pays), or ``declined`` when the gateway refuses the session."""
        body = self._call(
            "POST", SESSION_PATH, data={**self.session_fields(payment), **self._credentials()}
        )
        status = str(body.get("status", "")).upper()
        page = str(body.get("GatewayPageURL") or "")
        session = str(body.get("sessionkey") or "")
        if status == "SUCCESS" and page and session:
            return GatewayAnswer(
                outcome="redirect",
                reference=session[:128],
                redirect_url=page[:1000],
                raw=_answer_raw(body),
            )
        logger.error(
            "sslcommerz refused a session",
            extra={"payment_id": payment.payment_id, "reason": body.get("failedreason", "")},
        )
        return GatewayAnswer(outcome="declined", reason="session_refused", raw=_answer_raw(body))

    # --- notifications ----------------------------------------------------------------------

    def verify_webhook(self, data: Mapping[str, str]) -> WebhookNotice:
        """Check an IPN's (or a return page's) signature with the store password; read it.
        Refuses (400 ``webhook_invalid``) a missing or wrong signature, a signature that does
        not cover the transaction id and status, or another store's notification."""
        sign = str(data.get("verify_sign") or "")
        keys = [key for key in str(data.get("verify_key") or "").split(",") if key]
        if not sign or not keys:
            raise WebhookInvalidError("The notification is not signed.")
        if any(field not in keys or field not in data for field in SIGNED_FIELDS_REQUIRED):
            raise WebhookInvalidError("The notification's signature does not cover it.")
        expected = sslcommerz_signature(data, store_password=self.store_password)
        if not hmac.compare_digest(expected, sign.lower()):
            raise WebhookInvalidError()
        store = data.get("store_id")
        if store is not None and store != self.store_id:
            raise WebhookInvalidError("The notification is for another store.")
        return WebhookNotice(
            payment_id=payment_id_of(str(data["tran_id"])) or "",
            reference=str(data.get("val_id") or ""),
            status=str(data["status"]).upper(),
            raw=dict(data),
        )

    # --- what became of a payment ----------------------------------------------------------

    def validate_notice(self, payment: GatewayPayment, *, val_id: str) -> GatewayAnswer:
        """Settle a notification: the validation API for its ``val_id`` (a paid transaction
        of this payment is ``captured``); anything else, or no ``val_id``, asks the
        transaction query (:meth:`validate`)."""
        if val_id:
            body = self._api_call(VALIDATION_PATH, {"val_id": val_id})
            status = str(body.get("status", "")).upper()
            if status in PAID_STATUSES and body.get("tran_id") == tran_id_of(payment.payment_id):
                return self._captured(body)
        return self.validate(payment, reference="")

    def validate(self, payment: GatewayPayment, *, reference: str) -> GatewayAnswer:
        """Ask the transaction query API about the payment's ``tran_id``: any paid attempt →
        ``captured`` (what it says was paid); else the latest attempt refused → ``declined``;
        none yet, or the latest still open → ``pending``."""
        tran_id = tran_id_of(payment.payment_id)
        body = self._api_call(QUERY_PATH, {"tran_id": tran_id})
        elements = [
            element
            for element in body.get("element") or []
            if isinstance(element, Mapping) and element.get("tran_id", tran_id) == tran_id
        ]
        for element in elements:
            if str(element.get("status", "")).upper() in PAID_STATUSES:
                return self._captured(element)
        latest = elements[-1] if elements else {}
        status = str(latest.get("status", "")).upper()
        if status in REFUSED_STATUSES:
            return GatewayAnswer(
                outcome="declined",
                reference=str(latest.get("bank_tran_id") or "")[:128],
                reason=REFUSED_STATUSES[status],
                raw=_answer_raw(latest),
            )
        return GatewayAnswer(outcome="pending", raw=_answer_raw(body))

    def _captured(self, record: Mapping[str, Any]) -> GatewayAnswer:
        amount, currency = _paid_amount(record)
        reference = str(record.get("bank_tran_id") or record.get("val_id") or "")
        return GatewayAnswer(
            outcome="captured",
            reference=reference[:128],
            amount=amount,
            currency=currency,
            raw=_answer_raw(record),
        )

    # --- refunds -----------------------------------------------------------------------------

    def refund(
        self, payment: GatewayPayment, *, reference: str, amount: int, idempotency_key: str
    ) -> GatewayAnswer:
        """Refund ``amount`` (minor units, the payment's currency) of the captured payment.

        SSLCommerz refunds the settled (BDT) amount of the transaction: the gateway's paid
        attempt is looked up by ``tran_id`` (its ``bank_tran_id`` and conversion rate), the
        whole settled amount for a full refund, else ``amount`` converted at the
        transaction's rate. ``refund_trans_id`` is derived from ``idempotency_key`` so a
        repeated call is one refund. ``refunded`` (``success``), ``pending``
        (``processing``: the gateway finishes later) or ``declined`` (``failed``).
        """
        paid = self._paid_transaction(payment)
        if paid is None:
            return GatewayAnswer(outcome="declined", reason="not_paid_at_gateway")
        settled = sslcommerz_amount(paid.get("amount")) or 0
        paid_amount, _ = _paid_amount(paid)
        if amount == paid_amount:
            refund_minor = settled  # in full: exactly what was settled
        elif paid_amount and settled != paid_amount:
            # Converted at the transaction's own rate.
            refund_minor = int(
                (Decimal(settled) * amount / paid_amount).quantize(Decimal(1), ROUND_HALF_UP)
            )
        else:
            refund_minor = amount
        refund_trans_id = re.sub(r"[^A-Za-z0-9]", "", idempotency_key)[-TRAN_ID_MAX_LENGTH:]
        body = self._api_call(
            QUERY_PATH,
            {
                "bank_tran_id": str(paid.get("bank_tran_id") or reference),
                "refund_trans_id": refund_trans_id,
                "refund_amount": from_minor(refund_minor),
                "refund_remarks": f"Refund of order {payment.order_number}",
                "refe_id": refund_trans_id,
            },
        )
        status = str(body.get("status", "")).lower()
        reference_out = str(body.get("refund_ref_id") or "")[:128]
        if status == "success":
            return GatewayAnswer(
                outcome="refunded", reference=reference_out, amount=amount, raw=_answer_raw(body)
            )
        if status == "processing":
            return GatewayAnswer(
                outcome="pending", reference=reference_out, amount=amount, raw=_answer_raw(body)
            )
        return GatewayAnswer(outcome="declined", reason="refund_refused", raw=_answer_raw(body))

    def _paid_transaction(self, payment: GatewayPayment) -> Mapping[str, Any] | None:
        tran_id = tran_id_of(payment.payment_id)
        body = self._api_call(QUERY_PATH, {"tran_id": tran_id})
        for element in body.get("element") or []:
            if (
                isinstance(element, Mapping)
                and str(element.get("status", "")).upper() in PAID_STATUSES
            ):
                return element
        return None
