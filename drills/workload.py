"""The load a drill runs while it breaks something: every kind of money movement Tally has,
sent the way a careful integrator sends it.

Each operation carries an ``Idempotency-Key`` and is retried with the same key, with backoff,
when it gets no answer or a 503 (the answers a fault may cause), until a final answer or
the retry deadline. Every HTTP request is counted: what was answered and how, so a drill's
verdict tells clean failures (a 503 problem+json, a dropped connection, retried) from
broken ones (any other 5xx, a 503 that is not a problem document).

The mix, per client turn: a charge sale (vendor API key); a credit request and its approval
(the approval is a worker job); a vendor crediting a customer's wallet (a worker job); a
customer buying an offer (a call-out job to the provider); a wallet checkout (an order
paid from the wallet; its invoice is a worker job); a card checkout through the SSLCommerz
sandbox (a call-out job opens the session, the buyer pays on the hosted page, the gateway's
IPN queues a validation job that captures; the invoice follows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.scenarios import ORDER_ADDRESS, PHONE_NUMBERS, Customer, Vendor

PROBLEM = "application/problem+json"
REQUEST_TIMEOUT_SECONDS = 15.0
# A client retries an unanswered or 503 request this long after the load stopped at most.
RETRY_GRACE_SECONDS = 90.0
MIX = (
    ("sale", 0.45),
    ("credit_request", 0.08),
    ("customer_credit", 0.12),
    ("activation", 0.12),
    ("wallet_checkout", 0.12),
    ("card_checkout", 0.11),
)
SALE_MINOR = 100
CREDIT_REQUEST_MINOR = 2_500
CUSTOMER_CREDIT_MINOR = 200


@dataclass
class World:
    """The drill's own vendors, customers, offer and catalog (seeded per drill)."""

    vendors: list[Vendor]
    customers: list[Customer]
    admin_headers: dict[str, str]
    offer_id: str
    variants: list[str]


@dataclass
class Counts:
    """Every HTTP request a drill sent, by how it was answered."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    dropped: int = 0  # no answer: connection refused or reset, or a timeout
    clean_503: int = 0  # 503 problem+json with Retry-After
    broken: list[str] = field(default_factory=list)  # any other 5xx, or a 503 of another kind

    @property
    def server_errors(self) -> int:
        return len(self.broken)


@dataclass
class Ops:
    """What the clients were finally answered, per kind of operation."""

    sales: dict[str, int] = field(default_factory=dict)  # sale id → amount answered 201
    approvals: list[str] = field(default_factory=list)  # credit request ids answered 202
    customer_credits: list[str] = field(default_factory=list)  # operation ids answered 202
    activations: list[str] = field(default_factory=list)  # activation ids answered 202
    wallet_orders: list[str] = field(default_factory=list)  # order ids paid 201
    card_payments: dict[str, str] = field(default_factory=dict)  # payment id → order id, 202
    card_paid: dict[str, dict[str, str]] = field(default_factory=dict)  # payment id → IPN fields
    unsettled: Counter[str] = field(default_factory=Counter)  # no final answer in time
    refused: Counter[str] = field(default_factory=Counter)  # final 4xx, by "kind:code"


class Client:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, counts: Counts) -> None:
        self.session = session
        self.base_url = base_url
        self.counts = counts

    async def once(
        self, method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request; (0, None) when nothing was answered."""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        self.counts.requests += 1
        try:
            async with self.session.request(method, url, data=data, headers=all_headers) as r:
                raw = await r.read()
                status, kind = r.status, r.headers.get("Content-Type", "")
                retry_after = r.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.counts.dropped += 1
            return 0, None
        self.counts.statuses[status] += 1
        if status == 503 and kind.startswith(PROBLEM) and retry_after:
            self.counts.clean_503 += 1
        elif status >= 500:
            self.counts.broken.append(f"{method} {url}: {status} {kind} {raw[:200]!r}")
        decoded = None
        if raw:
            with contextlib.suppress(ValueError):
                decoded = json.loads(raw)
        return status, decoded

    async def settle(
        self,
        method: str,
        path: str,
        *,
        deadline: float,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send until a final answer (not 0, not 503, not a running duplicate), with the same
        headers (so the same Idempotency-Key) each time, or until ``deadline``."""
        pause = 0.1
        while True:
            status, answer = await self.once(
                method, self.base_url + path, body=body, headers=headers
            )
            in_progress = status == 409 and _code(answer) == "idempotency_in_progress"
            if status not in (0, 502, 503, 504) and not in_progress:
                return status, answer
            if time.monotonic() > deadline:
                return status, answer
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)


def _code(answer: Any) -> str:
    return str(answer.get("code", "")) if isinstance(answer, dict) else ""


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


class Load:
    """``clients`` clients running the mix until ``stop`` is set."""

    def __init__(self, base_url: str, world: World, *, seed: int) -> None:
        self.base_url = base_url
        self.world = world
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.ops = Ops()
        self.stop = asyncio.Event()
        self.grace_deadline = float("inf")
        self.card_inline = True  # pay card checkouts during the load (else after it)

    def deadline(self) -> float:
        return self.grace_deadline

    async def run(self, clients: int) -> None:
        connector = aiohttp.TCPConnector(limit=clients * 2)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            client = Client(session, self.base_url, self.counts)
            await asyncio.gather(*(self._loop(client) for _ in range(clients)))

    async def _loop(self, client: Client) -> None:
        kinds, weights = zip(*MIX, strict=True)
        while not self.stop.is_set():
            kind = self.rng.choices(kinds, weights)[0]
            await getattr(self, kind)(client)

    def _refused(self, kind: str, status: int, answer: Any) -> None:
        if status in (0, 502, 503, 504) or (
            status == 409 and _code(answer) == "idempotency_in_progress"
        ):
            self.ops.unsettled[kind] += 1
        else:
            self.ops.refused[f"{kind}:{status}:{_code(answer)}"] += 1

    # --- the operations ---------------------------------------------------------------

    async def sale(self, client: Client) -> None:
        vendor = self.rng.choice(self.world.vendors)
        status, answer = await client.settle(
            "POST",
            f"/api/v1/vendors/{vendor.id}/charges/",
            body={"phone_number": self.rng.choice(PHONE_NUMBERS), "amount": "1.00"},
            headers={**vendor.headers, **_key()},
            deadline=self.deadline(),
        )
        if status == 201:
            self.ops.sales[str(answer["id"])] = SALE_MINOR
        else:
            self._refused("sale", status, answer)

    async def credit_request(self, client: Client) -> None:
        vendor = self.rng.choice(self.world.vendors)
        status, answer = await client.settle(
            "POST",
            "/api/v1/credit-requests/",
            body={"amount": "25.00", "note": "drill"},
            headers={**vendor.headers, **_key()},
            deadline=self.deadline(),
        )
        if status != 201:
            self._refused("credit_request", status, answer)
            return
        request_id = str(answer["id"])
        status, answer = await client.settle(
            "POST",
            f"/api/v1/credit-requests/{request_id}/approve/",
            headers={**self.world.admin_headers, **_key()},
            deadline=self.deadline(),
        )
        if status == 202:
            self.ops.approvals.append(request_id)
        else:
            self._refused("approval", status, answer)

    async def customer_credit(self, client: Client) -> None:
        vendor = self.rng.choice(self.world.vendors)
        customer = self.rng.choice(self.world.customers)
        status, answer = await client.settle(
            "POST",
            f"/api/v1/customers/{customer.id}/credit/",
            body={"amount": "2.00"},
            headers={**vendor.headers, **_key()},
            deadline=self.deadline(),
        )
        if status == 202:
            self.ops.customer_credits.append(str(answer["id"]))
        else:
            self._refused("customer_credit", status, answer)

    async def activation(self, client: Client) -> None:
        customer = self.rng.choice(self.world.customers)
        status, answer = await client.settle(
            "POST",
            "/api/v1/activations/",
            body={"offer": self.world.offer_id},
            headers={**customer.headers, **_key()},
            deadline=self.deadline(),
        )
        if status == 202:
            self.ops.activations.append(str(answer["id"]))
        else:
            self._refused("activation", status, answer)

    async def _order(self, client: Client, customer: Customer) -> str | None:
        variants = self.rng.sample(self.world.variants, self.rng.randint(1, 2))
        status, answer = await client.settle(
            "POST",
            "/api/v1/orders/",
            body={
                "items": [{"variant_id": v, "quantity": 1} for v in variants],
                "shipping_address": ORDER_ADDRESS,
            },
            headers={**customer.headers, **_key()},
            deadline=self.deadline(),
        )
        if status != 201:
            self._refused("order", status, answer)
            return None
        return str(answer["id"])

    async def wallet_checkout(self, client: Client) -> None:
        customer = self.rng.choice(self.world.customers)
        order_id = await self._order(client, customer)
        if order_id is None:
            return
        status, answer = await client.settle(
            "POST",
            f"/api/v1/orders/{order_id}/process-payment/",
            body={"method": "wallet"},
            headers={**customer.headers, **_key()},
            deadline=self.deadline(),
        )
        if status == 201:
            self.ops.wallet_orders.append(order_id)
        else:
            self._refused("wallet_payment", status, answer)

    async def card_checkout(self, client: Client) -> None:
        customer = self.rng.choice(self.world.customers)
        order_id = await self._order(client, customer)
        if order_id is None:
            return
        status, answer = await client.settle(
            "POST",
            f"/api/v1/orders/{order_id}/process-payment/",
            body={"method": "credit_card"},
            headers={**customer.headers, **_key()},
            deadline=self.deadline(),
        )
        if status != 202:
            self._refused("card_payment", status, answer)
            return
        payment_id = str(answer["id"])
        self.ops.card_payments[payment_id] = order_id
        if self.card_inline:
            await self.card_pay(client, payment_id, customer, wait=10.0)

    async def card_pay(
        self,
        client: Client,
        payment_id: str,
        customer: Customer,
        *,
        wait: float,
    ) -> bool:
        """The buyer: wait for the gateway page (the worker opens the session), pay there
        (the sandbox POSTs the signed IPN to Tally). False when no page came in time."""
        until = time.monotonic() + wait
        redirect = ""
        while time.monotonic() < until:
            status, answer = await client.once(
                "GET", f"{self.base_url}/api/v1/payments/{payment_id}/", headers=customer.headers
            )
            if status == 200 and isinstance(answer, dict) and answer.get("redirect_url"):
                redirect = str(answer["redirect_url"])
                break
            await asyncio.sleep(0.3)
        if not redirect:
            return False
        status, answer = await client.once("GET", f"{redirect}?outcome=success&format=json")
        if status == 200 and isinstance(answer, dict):
            self.ops.card_paid[payment_id] = dict(answer.get("fields") or {})
            return True
        return False

    async def card_pay_left(self, customers_by_id: dict[str, Customer], *, wait: float) -> int:
        """After the load: pay every card checkout whose buyer could not pay yet."""
        left = [p for p in self.ops.card_payments if p not in self.ops.card_paid]
        if not left:
            return 0
        owners = await self._payment_owners(left)
        await self._pages_ready(left, wait=wait)
        connector = aiohttp.TCPConnector(limit=16)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            client = Client(session, self.base_url, self.counts)
            paid = await asyncio.gather(
                *(
                    self.card_pay(client, p, customers_by_id[owners[p]], wait=10.0)
                    for p in left
                    if owners.get(p) in customers_by_id
                )
            )
        return sum(paid)

    async def _pages_ready(self, payment_ids: list[str], *, wait: float) -> None:
        """Wait (reading the database, not polling the API with hundreds of buyers) until
        the worker has opened a gateway session for every one of ``payment_ids``."""
        from asgiref.sync import sync_to_async

        def missing() -> int:
            from django.db import connection

            from tally.payments.models import Payment

            connection.close()
            return Payment.objects.filter(id__in=payment_ids, redirect_url="").count()

        until = time.monotonic() + wait
        while time.monotonic() < until and await sync_to_async(missing)():
            await asyncio.sleep(2.0)

    async def _payment_owners(self, payment_ids: list[str]) -> dict[str, str]:
        from asgiref.sync import sync_to_async

        def read() -> dict[str, str]:
            from django.db import connection

            from tally.payments.models import Payment

            connection.close()  # this thread's connection may predate a PostgreSQL restart

            rows = Payment.objects.filter(id__in=payment_ids).values_list(
                "id", "order__customer_id"
            )
            return {str(p): str(c) for p, c in rows}

        return await sync_to_async(read)()

    async def ipn_again(self) -> tuple[int, int]:
        """Deliver every paid card checkout's IPN once more, as a gateway retrying would:
        (deliveries, answers other than 200)."""
        url = f"{self.base_url}/api/v1/payments/webhooks/sslcommerz/"
        refused = 0
        async with aiohttp.ClientSession() as session:
            for fields in self.ops.card_paid.values():
                self.counts.requests += 1
                try:
                    async with session.post(url, data=fields) as response:
                        await response.read()
                        self.counts.statuses[response.status] += 1
                        if response.status != 200:
                            refused += 1
                        if response.status >= 500:
                            self.counts.broken.append(f"POST {url}: {response.status}")
                except (aiohttp.ClientError, TimeoutError, OSError):
                    self.counts.dropped += 1
                    refused += 1
        return len(self.ops.card_paid), refused
