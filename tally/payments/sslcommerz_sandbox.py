"""A local SSLCommerz sandbox: a real HTTP server speaking the gateway's protocol
(``tally/payments/gateways/sslcommerz.py`` describes it), for development, tests and the
bench. It keeps everything in memory.

- ``POST /gwprocess/v4/api.php``: opens a session (store credentials checked, amounts
  converted to BDT at ``bdt_rate`` as the real gateway converts) and answers its
  ``GatewayPageURL``: ``/EasyCheckOut/<sessionkey>``.
- ``GET /EasyCheckOut/<sessionkey>``: the hosted page. Without ``outcome`` it shows three
  links; ``?outcome=success|fail|cancel`` "pays": the transaction is recorded, the signed
  IPN is POSTed (form-encoded) to the session's ``ipn_url`` (unless ``&ipn=0``), and the
  buyer's browser is sent on to the success, fail or cancel URL with the same signed fields
  (an auto-submitting form; with ``Accept: application/json`` or ``&format=json`` a JSON
  summary instead, for curl).
- ``GET /validator/api/validationserverAPI.php?val_id=…``: ``VALID`` the first time,
  ``VALIDATED`` after, ``INVALID_TRANSACTION`` for an unknown ``val_id``.
- ``GET /validator/api/merchantTransIDvalidationAPI.php``: by ``tran_id`` (every attempt
  of the transaction; a session left unpaid for ``session_minutes`` ends ``EXPIRED``), by
  ``sessionkey``, a refund (``bank_tran_id`` + ``refund_amount``,
  applied once per ``refund_trans_id``), a refund's status (``refund_ref_id``).

Tests steer it::

    with sslcommerz_sandbox_run() as sandbox:      # SSLCOMMERZ_API_URL = sandbox.url
        sandbox.fail_next(2)               # the next two API calls answer 503
        sandbox.forge_next_ipn()           # the next IPN's verify_sign is wrong
        sandbox.tamper_next_amount("1.00") # the next payment records 1.00 paid
        sandbox.expire_sessions()          # every open session runs out now
        fields = sandbox.pay(sessionkey, "success", ipn=False)   # pay; keep the IPN back
        sandbox.deliver_ipn(fields)        # … and deliver it (again) when the test wants
        sandbox.ipn_deliveries             # [(tran_id, HTTP status or error), …]

Run it on its own (``make run`` does)::

    python -m tally.payments.sslcommerz_sandbox   # SSLCOMMERZ_SANDBOX_PORT, SSLCOMMERZ_STORE_*
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tally.platform.local_server import loopback_server, serving_in_thread

logger = logging.getLogger(__name__)

SESSION_PATH = "/gwprocess/v4/api.php"
PAGE_PREFIX = "/EasyCheckOut/"
VALIDATION_PATH = "/validator/api/validationserverAPI.php"
QUERY_PATH = "/validator/api/merchantTransIDvalidationAPI.php"
REQUIRED_SESSION_FIELDS = (
    "total_amount", "currency", "tran_id", "success_url", "fail_url", "cancel_url",
    "cus_name", "cus_email", "cus_add1", "cus_city", "cus_country", "cus_phone",
    "shipping_method", "product_name", "product_category", "product_profile",
)  # fmt: skip
# The gateway's limits, in BDT.
MIN_BDT, MAX_BDT = Decimal("10.00"), Decimal("500000.00")
CENT = Decimal("0.01")
_ERRORS = {
    "FAILED": "Declined by the sandbox",
    "CANCELLED": "Cancelled by User",
    "EXPIRED": "Session expired",
}
OUTCOME_STATUS = {"success": "VALID", "fail": "FAILED", "cancel": "CANCELLED"}
RETURN_URL = {"success": "success_url", "fail": "fail_url", "cancel": "cancel_url"}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324  # nosec B324  # the gateway's verify_sign protocol is MD5


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _decimal(text: str | None) -> Decimal | None:
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(CENT):
        return None
    return value


@dataclass
class Session:
    sessionkey: str
    fields: dict[str, str]
    amount: Decimal  # in the session's currency
    currency: str
    rate: Decimal  # BDT per unit of the session's currency
    closed: bool = False
    opened_at: float = field(default_factory=time.monotonic)

    @property
    def tran_id(self) -> str:
        return self.fields["tran_id"]


@dataclass
class Transaction:
    """One attempt to pay a session."""

    session: Session
    status: str  # VALID, FAILED, CANCELLED, EXPIRED (never paid in time)
    currency_amount: Decimal  # what the buyer paid, in the session's currency
    val_id: str = ""
    bank_tran_id: str = ""
    tran_date: str = field(default_factory=_now)
    validations: int = 0
    refunded: Decimal = Decimal(0)  # BDT

    @property
    def amount(self) -> Decimal:
        return (self.currency_amount * self.session.rate).quantize(CENT)

    def record(self) -> dict[str, str]:
        """The transaction as the IPN, the validation and the query APIs describe it."""
        paid = self.status == "VALID"
        record = {
            "tran_id": self.session.tran_id,
            "amount": str(self.amount),
            "card_type": "VISA-Dutch Bangla" if paid else "",
            "store_amount": str((self.amount * Decimal("0.975")).quantize(CENT)) if paid else "",
            "card_no": "424242XXXXXX4242" if paid else "",
            "bank_tran_id": self.bank_tran_id,
            "status": self.status,
            "tran_date": self.tran_date,
            "error": _ERRORS.get(self.status, ""),
            "currency": "BDT",
            "card_issuer": "TALLY SANDBOX BANK" if paid else "",
            "card_brand": "VISA" if paid else "",
            "card_issuer_country": "Bangladesh" if paid else "",
            "card_issuer_country_code": "BD" if paid else "",
            "currency_type": self.session.currency,
            "currency_amount": str(self.currency_amount),
            "currency_rate": f"{self.session.rate:.4f}",
            "base_fair": "0.00",
            "value_a": self.session.fields.get("value_a", ""),
            "value_b": self.session.fields.get("value_b", ""),
            "value_c": self.session.fields.get("value_c", ""),
            "value_d": self.session.fields.get("value_d", ""),
            "risk_level": "0",
            "risk_title": "Safe",
        }
        if self.val_id:
            record["val_id"] = self.val_id
        return record


@dataclass
class RefundRecord:
    refund_ref_id: str
    transaction: Transaction
    amount: Decimal
    initiated_on: str = field(default_factory=_now)


class SslcommerzSandbox:
    def __init__(
        self,
        *,
        store_id: str = "tallysandbox",
        store_password: str = "tallysandbox@ssl",  # noqa: S107 - a sandbox's published test store
        bdt_rate: str | Decimal = "110.00",
        latency_ms: int = 0,
        ipn_timeout_seconds: float = 10.0,
        session_minutes: float = 30.0,
    ) -> None:
        self.url = ""
        self.store_id = store_id
        self.store_password = store_password
        self.bdt_rate = Decimal(str(bdt_rate))
        self.latency_ms = latency_ms
        self.ipn_timeout_seconds = ipn_timeout_seconds
        self.session_seconds = session_minutes * 60
        self.sessions: dict[str, Session] = {}
        self.transactions: list[Transaction] = []
        self.refunds: dict[str, RefundRecord] = {}  # by refund_trans_id
        # Every API call, in order: its path (the hosted page is not an API call).
        self.calls: list[str] = []
        # Every IPN delivery: (tran_id, the HTTP status Tally answered, or the error).
        self.ipn_deliveries: list[tuple[str, int | str]] = []
        self._fail_next = 0
        self._forge_next = False
        self._tamper_next: Decimal | None = None
        self._lock = threading.Lock()

    # --- steering (tests) ---------------------------------------------------------------

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` API calls 503, applying nothing."""
        with self._lock:
            self._fail_next = count

    def forge_next_ipn(self) -> None:
        """Sign the next payment's IPN (and return fields) with a wrong password."""
        with self._lock:
            self._forge_next = True

    def tamper_next_amount(self, amount: str) -> None:
        """Record the next successful payment as ``amount`` paid (the session's currency),
        as if the buyer had altered the checkout: every answer then tells that amount."""
        with self._lock:
            self._tamper_next = Decimal(amount)

    def expire_sessions(self) -> None:
        """Let every open session run out now (as if ``session_minutes`` had passed)."""
        with self._lock:
            for session in self.sessions.values():
                session.opened_at = float("-inf")

    def _expire_due(self) -> None:
        """Under the lock: a session never paid in time ends with an EXPIRED transaction."""
        now = time.monotonic()
        for session in self.sessions.values():
            if not session.closed and now - session.opened_at > self.session_seconds:
                session.closed = True
                self.transactions.append(
                    Transaction(session=session, status="EXPIRED", currency_amount=session.amount)
                )

    def session_for(self, tran_id: str) -> Session | None:
        """The latest session opened for ``tran_id``."""
        with self._lock:
            found = [s for s in self.sessions.values() if s.tran_id == tran_id]
        return found[-1] if found else None

    # --- the protocol ---------------------------------------------------------------------

    def _sign(self, fields: Mapping[str, str], *, forged: bool = False) -> dict[str, str]:
        password = self.store_password + ("-forged" if forged else "")
        signed = {**fields, "store_passwd": _md5(password)}
        text = "&".join(f"{key}={signed[key]}" for key in sorted(signed))
        return {
            **fields,
            "verify_sign": _md5(text),
            "verify_key": ",".join(fields),
            "verify_sign_sha2": hashlib.sha256(text.encode()).hexdigest(),
        }

    def _take_failure(self) -> bool:
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                return True
            return False

    def _credentials_ok(self, params: Mapping[str, str]) -> bool:
        return params.get("store_id") == self.store_id and secrets.compare_digest(
            params.get("store_passwd", ""), self.store_password
        )

    def open_session(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The session API's answer to ``form``."""

        def refused(reason: str) -> dict[str, Any]:
            return {"status": "FAILED", "failedreason": reason, "sessionkey": "", "gw": None}

        if not self._credentials_ok(form):
            return refused("Store Credential Error Or Store is De-active")
        missing = [name for name in REQUIRED_SESSION_FIELDS if not form.get(name)]
        if missing:
            return refused(f"Invalid Information: {missing[0]} is missing")
        if len(form["tran_id"]) > 30:
            return refused("Invalid Information: tran_id is longer than 30 characters")
        for name in ("success_url", "fail_url", "cancel_url", "ipn_url"):
            if form.get(name) and not re.match(r"^https?://", form[name]):
                return refused(f"Invalid Information: {name} is not a URL")
        currency = form["currency"].upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            return refused("Invalid Information: currency")
        amount = _decimal(form["total_amount"])
        rate = Decimal(1) if currency == "BDT" else self.bdt_rate
        if amount is None or not MIN_BDT <= (amount * rate) <= MAX_BDT:
            return refused("Invalid Information: total_amount must be 10.00 to 500000.00 BDT")
        session = Session(
            sessionkey=secrets.token_hex(16).upper(),
            fields={k: v for k, v in form.items() if k != "store_passwd"},
            amount=amount,
            currency=currency,
            rate=rate,
        )
        with self._lock:
            self.sessions[session.sessionkey] = session
        page = f"{self.url}{PAGE_PREFIX}{session.sessionkey}"
        return {
            "status": "SUCCESS",
            "failedreason": "",
            "sessionkey": session.sessionkey,
            "gw": {"visa": "sandbox_visa", "master": "sandbox_master"},
            "redirectGatewayURL": page,
            "GatewayPageURL": page,
            "storeBanner": "",
            "storeLogo": "",
            "store_name": "Tally sandbox store",
            "desc": [],
            "is_direct_pay_enable": "0",
        }

    def pay(self, sessionkey: str, outcome: str = "success", *, ipn: bool = True) -> dict[str, str]:
        """The buyer pays (``success``), fails or cancels on the hosted page: the transaction
        is recorded and its signed notification POSTed to the ``ipn_url`` (unless ``ipn`` is
        false). Returns the signed fields (what the IPN and the return page carry)."""
        if outcome not in OUTCOME_STATUS:
            raise ValueError(f"outcome must be one of {sorted(OUTCOME_STATUS)}")
        with self._lock:
            self._expire_due()
            session = self.sessions.get(sessionkey)
            if session is None:
                raise KeyError(sessionkey)
            if session.closed:
                raise PermissionError("this session is closed")
            status = OUTCOME_STATUS[outcome]
            paid = session.amount
            if status == "VALID" and self._tamper_next is not None:
                paid, self._tamper_next = self._tamper_next, None
            transaction = Transaction(session=session, status=status, currency_amount=paid)
            stamp = datetime.now(UTC).strftime("%y%m%d%H%M%S")
            transaction.bank_tran_id = stamp + secrets.token_hex(7).upper()
            if status == "VALID":
                transaction.val_id = stamp + secrets.token_hex(7)
            # A paid or cancelled session is over; after a failure the buyer may try again.
            session.closed = status != "FAILED"
            self.transactions.append(transaction)
            forged, self._forge_next = self._forge_next, False
        fields = self._sign({**transaction.record(), "store_id": self.store_id}, forged=forged)
        if ipn and session.fields.get("ipn_url"):
            self.deliver_ipn(fields, url=session.fields["ipn_url"])
        return fields

    def deliver_ipn(self, fields: Mapping[str, str], *, url: str | None = None) -> int | str:
        """POST ``fields`` form-encoded to ``url`` (default: the transaction's session's
        ``ipn_url``); record and return Tally's HTTP status (or the error)."""
        tran_id = fields.get("tran_id", "")
        if url is None:
            session = self.session_for(tran_id)
            url = session.fields.get("ipn_url", "") if session else ""
        if not re.match(r"^https?://", url or ""):
            raise ValueError("no http(s) ipn_url to deliver to")
        request = urllib.request.Request(  # noqa: S310 - checked http(s) above
            url,
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        result: int | str
        try:
            with urllib.request.urlopen(request, timeout=self.ipn_timeout_seconds) as response:  # noqa: S310  # nosec B310  # http(s) checked above
                result = int(response.status)
        except urllib.error.HTTPError as exc:
            result = int(exc.code)
        except OSError as exc:
            result = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.ipn_deliveries.append((tran_id, result))
        logger.info("sandbox IPN for %s: %s", tran_id, result)
        return result

    def validation(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The validation API's answer (by ``val_id``)."""
        if not self._credentials_ok(params):
            return {"APIConnect": "FAILED", "status": "INVALID_TRANSACTION"}
        with self._lock:
            found = [t for t in self.transactions if t.val_id and t.val_id == params.get("val_id")]
            if not found:
                return {"APIConnect": "DONE", "status": "INVALID_TRANSACTION"}
            transaction = found[0]
            transaction.validations += 1
            status = "VALID" if transaction.validations == 1 else "VALIDATED"
        return {
            **transaction.record(),
            "status": status,
            "APIConnect": "DONE",
            "validated_on": _now(),
            "gw_version": "",
        }

    def query(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The merchant transaction API's answer: a refund, a refund's status, or the
        transactions of a ``sessionkey`` or ``tran_id``."""
        if not self._credentials_ok(params):
            return {"APIConnect": "FAILED"}
        if params.get("refund_ref_id"):
            return self._refund_status(params["refund_ref_id"])
        if params.get("bank_tran_id") and params.get("refund_amount"):
            return self._refund(params)
        with self._lock:
            self._expire_due()
            if params.get("sessionkey"):
                session = self.sessions.get(params["sessionkey"])
                found = [t for t in self.transactions if t.session is session]
                if session is None or not found:
                    return {"APIConnect": "DONE", "status": "INVALID_REQUEST"}
                return {
                    **found[-1].record(),
                    "sessionkey": session.sessionkey,
                    "APIConnect": "DONE",
                }
            if params.get("tran_id"):
                found = [t for t in self.transactions if t.session.tran_id == params["tran_id"]]
                return {
                    "APIConnect": "DONE",
                    "no_of_trans_found": len(found),
                    "element": [{**t.record(), "status": self._query_status(t)} for t in found],
                }
        return {"APIConnect": "INVALID_REQUEST"}

    @staticmethod
    def _query_status(transaction: Transaction) -> str:
        if transaction.status == "VALID" and transaction.validations:
            return "VALIDATED"
        return transaction.status

    def _refund(self, params: Mapping[str, str]) -> dict[str, Any]:
        key = params.get("refund_trans_id") or params.get("refe_id") or ""
        with self._lock:
            if key and key in self.refunds:
                return self._refund_answer(self.refunds[key], "success")
            found = [
                t
                for t in self.transactions
                if t.bank_tran_id == params["bank_tran_id"] and t.status == "VALID"
            ]
            amount = _decimal(params.get("refund_amount"))
            base = {"APIConnect": "DONE", "bank_tran_id": params["bank_tran_id"]}
            if not found:
                return {**base, "status": "failed", "errorReason": "Invalid bank_tran_id"}
            transaction = found[0]
            if amount is None or amount <= 0 or amount > transaction.amount - transaction.refunded:
                return {**base, "status": "failed", "errorReason": "Invalid refund amount"}
            transaction.refunded += amount
            refund = RefundRecord(
                refund_ref_id=secrets.token_hex(10), transaction=transaction, amount=amount
            )
            self.refunds[key or refund.refund_ref_id] = refund
        return self._refund_answer(refund, "success")

    @staticmethod
    def _refund_answer(refund: RefundRecord, status: str) -> dict[str, Any]:
        return {
            "APIConnect": "DONE",
            "bank_tran_id": refund.transaction.bank_tran_id,
            "trans_id": refund.transaction.session.tran_id,
            "refund_ref_id": refund.refund_ref_id,
            "status": status,
            "errorReason": "",
        }

    def _refund_status(self, refund_ref_id: str) -> dict[str, Any]:
        with self._lock:
            found = [r for r in self.refunds.values() if r.refund_ref_id == refund_ref_id]
        if not found:
            return {
                "APIConnect": "DONE",
                "status": "failed",
                "errorReason": "Invalid refund_ref_id",
            }
        refund = found[0]
        return {
            "APIConnect": "DONE",
            "bank_tran_id": refund.transaction.bank_tran_id,
            "tran_id": refund.transaction.session.tran_id,
            "refund_ref_id": refund.refund_ref_id,
            "initiated_on": refund.initiated_on,
            "refunded_on": refund.initiated_on,
            "status": "refunded",
            "errorReason": "",
        }


def _page(sandbox: SslcommerzSandbox, session: Session) -> str:
    links = "".join(
        f'<li><a href="{html.escape(sandbox.url + PAGE_PREFIX + session.sessionkey)}'
        f'?outcome={outcome}">{label}</a></li>'
        for outcome, label in (("success", "Pay"), ("fail", "Fail"), ("cancel", "Cancel"))
    )
    return (
        "<!doctype html><title>SSLCommerz sandbox</title>"
        f"<h1>Pay {html.escape(str(session.amount))} {html.escape(session.currency)}</h1>"
        f"<p>{html.escape(session.fields.get('product_name', ''))}</p><ul>{links}</ul>"
    )


def _return_form(url: str, fields: Mapping[str, str], ipn: int | str | None) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return (
        "<!doctype html><title>SSLCommerz sandbox</title>"
        f'<body onload="document.forms[0].submit()"><p>IPN delivered: {html.escape(str(ipn))}'
        f'</p><form method="post" action="{html.escape(url)}">{inputs}'
        '<button type="submit">Back to the shop</button></form></body>'
    )


def _handler(sandbox: SslcommerzSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _query(self) -> tuple[str, dict[str, str]]:
            parts = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
            return parts.path, params

        def _api(self, path: str) -> bool:
            """Count an API call; True (and a 503 sent) when it is to fail."""
            with sandbox._lock:
                sandbox.calls.append(path)
            time.sleep(sandbox.latency_ms / 1000)
            if sandbox._take_failure():
                self._send(503, {"error": "sandbox: unavailable"})
                return True
            return False

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            path, _ = self._query()
            if path != SESSION_PATH:
                self._send(404, {"error": "not found"})
                return
            if self._api(path):
                return
            form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
            self._send(200, sandbox.open_session(form))

        def do_GET(self) -> None:
            path, params = self._query()
            if path.startswith(PAGE_PREFIX):
                self._hosted_page(path[len(PAGE_PREFIX) :].strip("/"), params)
            elif path == VALIDATION_PATH:
                if not self._api(path):
                    self._send(200, sandbox.validation(params))
            elif path == QUERY_PATH:
                if not self._api(path):
                    self._send(200, sandbox.query(params))
            else:
                self._send(404, {"error": "not found"})

        def _hosted_page(self, sessionkey: str, params: dict[str, str]) -> None:
            session = sandbox.sessions.get(sessionkey)
            wants_json = params.get("format") == "json" or "application/json" in (
                self.headers.get("Accept") or ""
            )
            if session is None:
                self._send(404, {"error": "no such session"})
                return
            outcome = params.get("outcome", "")
            if not outcome:
                self._send_html(200, _page(sandbox, session))
                return
            try:
                fields = sandbox.pay(sessionkey, outcome, ipn=params.get("ipn", "1") != "0")
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            except PermissionError as exc:
                self._send(409, {"error": str(exc)})
                return
            with sandbox._lock:
                delivered = [r for t, r in sandbox.ipn_deliveries if t == session.tran_id]
            ipn = delivered[-1] if delivered else None
            back = session.fields[RETURN_URL[outcome]]
            if wants_json:
                self._send(
                    200,
                    {
                        "status": fields["status"],
                        "tran_id": fields["tran_id"],
                        "val_id": fields.get("val_id", ""),
                        "ipn": {"url": session.fields.get("ipn_url", ""), "result": ipn},
                        "return_url": back,
                        "fields": fields,
                    },
                )
            else:
                self._send_html(200, _return_form(back, fields, ipn))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            self._write(status, json.dumps(body).encode(), "application/json")

        def _send_html(self, status: int, page: str) -> None:
            self._write(status, page.encode(), "text/html; charset=utf-8")

        def _write(self, status: int, payload: bytes, content_type: str) -> None:
            with contextlib.suppress(OSError):  # the caller may have given up meanwhile
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            # Never the query string: the validator APIs carry the store password there.
            logger.debug("sslcommerz sandbox: %s", self.command)

    return Handler


def sslcommerz_sandbox_server(
    sandbox: SslcommerzSandbox, *, host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """A server for ``sandbox`` bound to ``host:port`` (0: a free port); sets its url."""
    server, sandbox.url = loopback_server(_handler(sandbox), host=host, port=port)
    return server


@contextlib.contextmanager
def sslcommerz_sandbox_run(**options: Any) -> Iterator[SslcommerzSandbox]:
    """Serve a :class:`SslcommerzSandbox` on a free loopback port, in a thread."""
    sandbox = SslcommerzSandbox(**options)
    with serving_in_thread(sslcommerz_sandbox_server(sandbox), name="sslcommerz-sandbox"):
        yield sandbox


def main() -> None:
    """Serve the sandbox in the foreground with the SSLCOMMERZ_* settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.local")
    import django
    from django.conf import settings

    django.setup()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sslcommerz %(message)s")
    sandbox = SslcommerzSandbox(
        store_id=settings.SSLCOMMERZ_STORE_ID,
        store_password=settings.SSLCOMMERZ_STORE_PASSWORD,
        bdt_rate=settings.SSLCOMMERZ_SANDBOX_BDT_RATE,
        session_minutes=settings.SSLCOMMERZ_SANDBOX_SESSION_MINUTES,
    )
    server = sslcommerz_sandbox_server(sandbox, port=settings.SSLCOMMERZ_SANDBOX_PORT)
    logger.info("SSLCommerz sandbox on %s (store %s)", sandbox.url, sandbox.store_id)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
