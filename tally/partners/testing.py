"""Test helpers for partner callbacks: a real local HTTP server standing in for a partner's
callback endpoint, the signature check exactly as docs/partners.md tells partners to do
it, and a finished activation written directly (for the callback job's own tests).
Imported by tests only::

    with partner_server_run() as server:
        server.fail_next_calls(2)            # answer 500 twice, then 200
        ...                                  # Tally POSTs to server.url
        server.wait_for_calls(3)
        assert signature_valid(secret, server.calls[2].signature, server.calls[2].body)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from tally.credit.ledger_vocabulary import CUSTOMER_WALLET
from tally.identity.models import CustomerProfile, PartnerProfile
from tally.identity.tests.factories import CustomerFactory
from tally.ledger import services as ledger
from tally.offers.ledger_vocabulary import OFFER_ACTIVATION, OFFER_REVENUE
from tally.offers.models import (
    Activation,
    ActivationSource,
    ActivationStatus,
    Subscription,
    SubscriptionStatus,
)
from tally.offers.testing import customer_fund, offer_make
from tally.partners.callbacks import activation_callback_enqueue
from tally.platform.testing.race import DEFAULT_TIMEOUT_SECONDS, wait_until

CALLBACK_PATH = "/callbacks/tally"


@dataclass(frozen=True)
class ReceivedCall:
    path: str
    body: bytes
    signature: str
    delivery: str
    content_type: str
    # What the server answered.
    status: int


class PartnerServer:
    """Records every callback received, and answers 200 unless told to fail."""

    def __init__(self) -> None:
        self.base_url = ""
        self.calls: list[ReceivedCall] = []
        self.failures_left = 0
        self.always_fail = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The callback URL to give the partner."""
        return f"{self.base_url}{CALLBACK_PATH}"

    def fail_next_calls(self, count: int) -> None:
        """Answer the next ``count`` calls 500."""
        self.failures_left = count

    def wait_for_calls(
        self, count: int, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        wait_until(
            lambda: len(self.calls) >= count,
            timeout_seconds=timeout_seconds,
            message=f"{len(self.calls)} of {count} callbacks came",
        )

    def _handle(self, call: dict[str, Any]) -> int:
        with self._lock:
            failing = self.always_fail or self.failures_left > 0
            if self.failures_left > 0:
                self.failures_left -= 1
            status = 500 if failing else 200
            self.calls.append(ReceivedCall(status=status, **call))
            return status


@contextlib.contextmanager
def partner_server_run() -> Iterator[PartnerServer]:
    """Serve a :class:`PartnerServer` on a free loopback port."""
    server_state = PartnerServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = server_state._handle(
                {
                    "path": self.path,
                    "body": body,
                    "signature": self.headers.get("X-Tally-Signature") or "",
                    "delivery": self.headers.get("X-Tally-Delivery") or "",
                    "content_type": self.headers.get("Content-Type") or "",
                }
            )
            payload = b"{}"
            with contextlib.suppress(OSError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="partner-server", daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()


def signature_valid(
    secret: str, header: str, body: bytes, *, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """The partner's check from docs/partners.md, written independently of Tally's signer:
    parse ``t=…,v1=…``, refuse a stale timestamp, compare HMAC-SHA256(secret, f"{t}.{body}")
    in constant time."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
        received = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, received)


def finished_activation_make(
    *,
    partner: PartnerProfile | None,
    customer: CustomerProfile | None = None,
    status: str = ActivationStatus.SUCCEEDED,
    reference: str = "order-1001",
) -> Activation:
    """A finished activation with its reservation posted (succeeded) or voided (failed),
    and its callback enqueued as the settle step does."""
    customer = customer or cast(CustomerProfile, CustomerFactory())
    offer = offer_make(price=500)
    customer_fund(customer, 1000)
    now = timezone.now()
    with transaction.atomic():
        wallet = ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET)
        pending = ledger.transfer_create_pending(
            debit_account=wallet,
            credit_account=ledger.account_system(kind=OFFER_REVENUE),
            amount_minor=offer.price,
            code=OFFER_ACTIVATION,
        )
        succeeded = status == ActivationStatus.SUCCEEDED
        resolution = (
            ledger.transfer_post_pending(pending=pending)
            if succeeded
            else ledger.transfer_void_pending(pending=pending)
        )
        subscription = Subscription.objects.create(
            customer=customer,
            offer=offer,
            status=SubscriptionStatus.ACTIVE if succeeded else SubscriptionStatus.CANCELLED,
            started_at=now if succeeded else None,
            expires_at=now + timedelta(days=30) if succeeded else None,
        )
        activation = Activation.objects.create(
            reference=f"ACT-{reference.upper()[-10:]}",
            customer=customer,
            offer=offer,
            subscription=subscription,
            source=ActivationSource.PARTNER if partner else ActivationSource.CUSTOMER,
            partner=partner,
            partner_reference=reference if partner else None,
            amount=offer.price,
            status=status,
            pending_transfer=pending,
            resolution_transfer=resolution,
            failure_code="" if succeeded else "provider_refused",
            completed_at=now,
        )
        activation_callback_enqueue(activation=activation)
    return activation
