"""The benchmark's data, scenarios and the checks run after each one.

Runs inside the bench process with Django configured on the bench database
(``bench/__main__.py`` does that), so seeding goes through Tally's own services and the
checks read the books with plain SQL. Load goes through HTTP only (``bench.loadgen``).

Every scenario returns a :class:`ScenarioReport`: its figures and its checks. A failed
check is an anomaly, and any anomaly fails the run.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.test.utils import override_settings

from bench.loadgen import Client, Result, StopFlow, run_closed, run_open

SALE_AMOUNT = "1.00"
SALE_AMOUNT_MINOR = 100
PHONE_NUMBERS = [f"+1650253{n:04d}" for n in range(1000)]
# Seeding creates users with a fast password hash: bench users authenticate with API keys
# and tokens only, and production's PBKDF2 would make seeding 100 vendors take a minute.
_FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass(frozen=True)
class Vendor:
    id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.key}"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class ScenarioReport:
    name: str
    description: str
    figures: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, bool(ok), detail))

    @property
    def anomalies(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


# --- seeding -----------------------------------------------------------------------------


def admin_token() -> str:
    """A fresh access token for the bench admin (created on first use)."""
    from rest_framework_simplejwt.tokens import AccessToken

    from tally.identity.models import Role, User

    admin = User.objects.filter(email="bench-admin@example.com").first()
    if admin is None:
        with override_settings(PASSWORD_HASHERS=_FAST_HASHERS):
            admin = User.objects.create_superuser(
                email="bench-admin@example.com", password=uuid.uuid4().hex, role=Role.ADMIN
            )
    return str(AccessToken.for_user(admin))


def vendors_seed(*, count: int, credit_minor: int, label: str) -> list[Vendor]:
    """``count`` active vendors with an API key each and ``credit_minor`` of credit, created
    through the same services an admin uses."""
    from tally.credit.services import vendor_credit_increase
    from tally.identity.models import User
    from tally.identity.services import api_key_create, vendor_create

    admin_token()
    admin = User.objects.get(email="bench-admin@example.com")
    from tally.platform.progress import progress_run

    vendors = []
    with (
        override_settings(PASSWORD_HASHERS=_FAST_HASHERS),
        progress_run(
            total=count, description=f"seeding {label} vendors", unit="vendor", interval_seconds=5
        ) as progress,
    ):
        for n in range(count):
            with transaction.atomic():
                profile = vendor_create(
                    actor=admin,
                    email=f"bench-{label}-{n}-{uuid.uuid4().hex[:8]}@example.com",
                    password=uuid.uuid4().hex,
                    business_name=f"Bench {label} {n}",
                )
                issued = api_key_create(user=profile.user, name="bench")
                if credit_minor:
                    vendor_credit_increase(
                        actor=admin, vendor=profile, amount_minor=credit_minor, reason="bench"
                    )
            vendors.append(Vendor(id=str(profile.user_id), key=issued.key))
            progress.advance()
    return vendors


def vendor_credit_account_ids(vendor_ids: list[str]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ledger_account WHERE kind = 'vendor_credit' AND owner_id = ANY(%s)"
            " ORDER BY id",
            [[uuid.UUID(v) for v in vendor_ids]],
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass
class Books:
    """What the database says about a set of vendors, at one moment."""

    sales: int
    sales_minor: int
    balance_minor: int
    credited_requests_minor: int

    @classmethod
    def read(cls, vendor_ids: list[str]) -> Books:
        ids = [uuid.UUID(v) for v in vendor_ids]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT (SELECT count(*) FROM topups_chargesale WHERE vendor_id = ANY(%(ids)s)),
                       (SELECT coalesce(sum(amount), 0) FROM topups_chargesale
                         WHERE vendor_id = ANY(%(ids)s)),
                       (SELECT coalesce(sum(balance), 0) FROM ledger_account
                         WHERE kind = 'vendor_credit' AND owner_id = ANY(%(ids)s)),
                       (SELECT coalesce(sum(amount), 0) FROM credit_creditrequest
                         WHERE vendor_id = ANY(%(ids)s) AND transfer_id IS NOT NULL)
                """,
                {"ids": ids},
            )
            row = cursor.fetchone()
        assert row is not None
        return cls(*(int(v) for v in row))


def verify_ledger_check(report: ScenarioReport) -> None:
    from tally.ledger.verification import ledger_verify

    started = time.monotonic()
    verification = ledger_verify()
    failed = [check.name for check in verification.failed]
    report.check(
        "verify_ledger clean",
        verification.ok,
        f"{verification.counts.get('entries', 0):,} entries in {time.monotonic() - started:.1f}s"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
    )


def load_checks(report: ScenarioReport, result: Result) -> None:
    errors = result.server_errors()
    report.check("no 5xx and no dropped connection", errors == 0, f"{errors} failed requests")
    report.check("open loop kept its schedule", result.dropped == 0, f"{result.dropped} dropped")
    report.failures.extend(result.failures)
    report.load = result.as_dict()


def books_checks(
    report: ScenarioReport, before: Books, after: Books, result: Result, sold_minor: int
) -> None:
    """Sales written == sales answered 201, and the money moved matches them exactly."""
    created = result.statuses("sale").get(201, 0)
    new_sales = after.sales - before.sales
    report.check(
        "sale rows == 201 answers", new_sales == created, f"{new_sales} rows, {created} answers"
    )
    moved = after.sales_minor - before.sales_minor
    report.check(
        "sold amount == amounts answered 201", moved == sold_minor, f"{moved} vs {sold_minor}"
    )
    credited = after.credited_requests_minor - before.credited_requests_minor
    delta = after.balance_minor - before.balance_minor
    report.check(
        "balance change == credits - sales",
        delta == credited - moved,
        f"balance {delta:+}, credits {credited:+}, sales {-moved:+}",
    )


# --- flows -------------------------------------------------------------------------------


class SaleFlow:
    """Sell a charge as one of ``vendors``, with an Idempotency-Key as integrators should."""

    def __init__(self, vendors: list[Vendor], *, attempts: int | None = None) -> None:
        self.vendors = vendors
        self.remaining = attempts
        self.sold_minor = 0
        self.rng = random.Random(7)

    def pick(self) -> Vendor:
        return self.vendors[self.rng.randrange(len(self.vendors))]

    async def __call__(self, client: Client) -> None:
        if self.remaining is not None:
            if self.remaining <= 0:
                raise StopFlow()
            self.remaining -= 1
        await self.sell(client, self.pick())

    async def sell(self, client: Client, vendor: Vendor) -> None:
        status, body = await client.call(
            "POST",
            f"/api/v1/vendors/{vendor.id}/charges/",
            json_body={"phone_number": self.rng.choice(PHONE_NUMBERS), "amount": SALE_AMOUNT},
            headers={**vendor.headers, "Idempotency-Key": str(uuid.uuid4())},
            tag="sale",
        )
        if status == 201 and isinstance(body, dict):
            self.sold_minor += int(Decimal(body["amount"]) * 100)


class MixedFlow(SaleFlow):
    """70 % sales, 20 % balance reads, 5 % history pages, 5 % credit request + approval."""

    def __init__(self, vendors: list[Vendor], admin_headers: dict[str, str]) -> None:
        super().__init__(vendors)
        self.admin_headers = admin_headers
        self.approved_minor = 0

    async def __call__(self, client: Client) -> None:
        vendor = self.pick()
        roll = self.rng.random()
        if roll < 0.70:
            await self.sell(client, vendor)
        elif roll < 0.90:
            await client.call(
                "GET",
                f"/api/v1/vendors/{vendor.id}/balance/",
                headers=vendor.headers,
                tag="balance",
            )
        elif roll < 0.95:
            await client.call(
                "GET",
                f"/api/v1/vendors/{vendor.id}/transactions/",
                headers=vendor.headers,
                tag="history",
            )
        else:
            status, body = await client.call(
                "POST",
                "/api/v1/credit-requests/",
                json_body={"amount": "25.00", "note": "bench"},
                headers={**vendor.headers, "Idempotency-Key": str(uuid.uuid4())},
                tag="credit_request",
            )
            if status == 201 and isinstance(body, dict):
                approved, _ = await client.call(
                    "POST",
                    f"/api/v1/credit-requests/{body['id']}/approve/",
                    headers={**self.admin_headers, "Idempotency-Key": str(uuid.uuid4())},
                    tag="approve",
                )
                if approved == 202:
                    self.approved_minor += 2500


# --- scenarios ---------------------------------------------------------------------------


@dataclass
class Plan:
    """Sizes and durations; ``quick`` shrinks every one for a one-minute smoke run."""

    quick: bool
    clients: int = 32

    @property
    def hot_sales(self) -> int:
        return 200 if self.quick else 5000

    @property
    def duration(self) -> float:
        return 3.0 if self.quick else 30.0

    @property
    def latency_duration(self) -> float:
        return 3.0 if self.quick else 30.0

    @property
    def depth_entries(self) -> int:
        return 12_000 if self.quick else 1_000_000

    @property
    def depth_page(self) -> int:
        return 100 if self.quick else 1000

    @property
    def verify_entries(self) -> int:
        return 200_000 if self.quick else 10_000_000

    @property
    def orders_duration(self) -> float:
        return 4.0 if self.quick else 30.0

    @property
    def orders_warm_up(self) -> float:
        return 1.0 if self.quick else 5.0

    @property
    def orders_hot_stock_min(self) -> int:
        return 10 if self.quick else 50

    @property
    def checkout_duration(self) -> float:
        return 4.0 if self.quick else 30.0

    @property
    def checkout_warm_up(self) -> float:
        return 1.0 if self.quick else 5.0


def _run(coro: Any) -> Result:
    return asyncio.run(coro)


def warm_up(base_url: str, plan: Plan) -> ScenarioReport:
    """Sales and reads for a few seconds, not measured: every web worker imports lazily,
    opens its database connections and prepares its statements before the first figure.
    Its answers are checked like any scenario's: a 5xx while warming up is an anomaly too."""
    report = ScenarioReport("warm-up", "Unmeasured mixed load before the first figure.")
    vendors = vendors_seed(count=4, credit_minor=100_000_000, label="warm-up")
    flow = MixedFlow(vendors, {"Authorization": f"Bearer {admin_token()}"})
    result = _run(
        run_closed(base_url, flow, clients=plan.clients, duration=2.0 if plan.quick else 10.0)
    )
    load_checks(report, result)
    return report


def scenario_hot(base_url: str, plan: Plan) -> ScenarioReport:
    n = plan.hot_sales
    report = ScenarioReport(
        "hot",
        f"One vendor, {plan.clients} clients selling {SALE_AMOUNT} charges; credit for exactly "
        f"N={n:,} sales, 2N attempts.",
    )
    (vendor,) = vendors_seed(count=1, credit_minor=n * SALE_AMOUNT_MINOR, label="hot")
    before = Books.read([vendor.id])
    flow = SaleFlow([vendor], attempts=2 * n)
    result = _run(run_closed(base_url, flow, clients=plan.clients))
    after = Books.read([vendor.id])
    statuses = result.statuses("sale")
    created = [s for s in result.select("sale") if s.status == 201]
    last_sale = max((s.started + s.latency for s in created), default=result.elapsed)
    report.figures = {
        "sales": statuses.get(201, 0),
        "refused_insufficient_funds": statuses.get(422, 0),
        "sales_per_s": round(len(created) / last_sale, 1) if last_sale else 0.0,
        "attempts_per_s": round(result.throughput("sale"), 1),
        "latency_ms": result.latency_ms("sale"),
    }
    report.check(
        "exactly N sales succeed", statuses.get(201, 0) == n, f"{statuses.get(201, 0)} of {n}"
    )
    report.check("the other N are 422", statuses.get(422, 0) == n, f"{statuses.get(422, 0)} of {n}")
    report.check("balance ends at 0", after.balance_minor == 0, f"{after.balance_minor}")
    load_checks(report, result)
    books_checks(report, before, after, result, flow.sold_minor)
    verify_ledger_check(report)
    return report


def scenario_spread(base_url: str, plan: Plan, vendors: list[Vendor]) -> ScenarioReport:
    report = ScenarioReport(
        "spread",
        f"{len(vendors)} vendors, {plan.clients} clients selling charges for {plan.duration:g}s.",
    )
    ids = [v.id for v in vendors]
    before = Books.read(ids)
    flow = SaleFlow(vendors)
    result = _run(run_closed(base_url, flow, clients=plan.clients, duration=plan.duration))
    after = Books.read(ids)
    report.figures = {
        "sales": result.statuses("sale").get(201, 0),
        "sales_per_s": round(result.throughput("sale", 201), 1),
        "latency_ms": result.latency_ms("sale"),
    }
    load_checks(report, result)
    report.check("every sale succeeded", result.statuses("sale").get(201, 0) == len(result.samples))
    books_checks(report, before, after, result, flow.sold_minor)
    verify_ledger_check(report)
    return report


def scenario_balance(base_url: str, plan: Plan, vendors: list[Vendor]) -> ScenarioReport:
    """Balance reads only, as integrators poll them: the read Tally is compared with the
    bare reference's one SELECT (bench/bare/)."""
    report = ScenarioReport(
        "balance",
        f"{len(vendors)} vendors, {plan.clients} clients reading their balance (API key) for "
        f"{plan.duration:g}s.",
    )
    rng = random.Random(7)

    async def flow(client: Client) -> None:
        vendor = vendors[rng.randrange(len(vendors))]
        await client.call(
            "GET", f"/api/v1/vendors/{vendor.id}/balance/", headers=vendor.headers, tag="balance"
        )

    result = _run(run_closed(base_url, flow, clients=plan.clients, duration=plan.duration))
    reads = result.statuses("balance").get(200, 0)
    report.figures = {
        "reads": reads,
        "reads_per_s": round(result.throughput("balance", 200), 1),
        "latency_ms": result.latency_ms("balance"),
    }
    load_checks(report, result)
    report.check(
        "every read 200", reads == len(result.samples), f"{reads} of {len(result.samples)}"
    )
    verify_ledger_check(report)
    return report


def scenario_mixed(base_url: str, plan: Plan, vendors: list[Vendor]) -> ScenarioReport:
    report = ScenarioReport(
        "mixed",
        f"{plan.clients} clients for {plan.duration:g}s: 70 % sales, 20 % balance reads, 5 % "
        "history pages, 5 % credit requests each approved by an admin (worker running).",
    )
    ids = [v.id for v in vendors]
    before = Books.read(ids)
    flow = MixedFlow(vendors, {"Authorization": f"Bearer {admin_token()}"})
    result = _run(run_closed(base_url, flow, clients=plan.clients, duration=plan.duration))
    # Approval answers 202; the worker credits through the outbox. Wait for it to drain.
    expected_credit = before.credited_requests_minor + flow.approved_minor
    deadline = time.monotonic() + 60
    after = Books.read(ids)
    while after.credited_requests_minor < expected_credit and time.monotonic() < deadline:
        time.sleep(0.5)
        after = Books.read(ids)
    report.figures = {
        "requests_per_s": round(result.throughput(), 1),
        "sales_per_s": round(result.throughput("sale", 201), 1),
        "latency_ms": result.latency_ms(),
        "by_tag": {
            tag: {"per_s": round(result.throughput(tag), 1), "latency_ms": result.latency_ms(tag)}
            for tag in ("sale", "balance", "history", "credit_request", "approve")
        },
    }
    load_checks(report, result)
    report.check(
        "every approval credited once by the worker",
        after.credited_requests_minor - before.credited_requests_minor == flow.approved_minor,
        f"{after.credited_requests_minor - before.credited_requests_minor} credited, "
        f"{flow.approved_minor} approved",
    )
    books_checks(report, before, after, result, flow.sold_minor)
    verify_ledger_check(report)
    return report


# The fixed rate at which a single sale's latency is compared with the bare sale's, and the
# share of Tally's own closed-loop spread maximum the open-loop latency run offers.
SINGLE_SALE_RATE = 5.0
OPEN_LOOP_SHARE = 0.7


def latency_load_rate(
    spread_sales_per_s: float | None, base_url: str, plan: Plan, vendors: list[Vendor]
) -> float:
    """70 % of Tally's own closed-loop maximum: the spread scenario's rate from this run, or
    (when it did not run) a short closed-loop spread measured here."""
    if not spread_sales_per_s:
        result = _run(
            run_closed(
                base_url, SaleFlow(vendors), clients=plan.clients, duration=plan.duration / 3
            )
        )
        spread_sales_per_s = result.throughput("sale", 201)
    return max(1.0, round(OPEN_LOOP_SHARE * spread_sales_per_s, 1))


def scenario_latency(
    base_url: str, plan: Plan, vendors: list[Vendor], spread_sales_per_s: float | None = None
) -> ScenarioReport:
    load_rate = latency_load_rate(spread_sales_per_s, base_url, plan, vendors)
    report = ScenarioReport(
        "latency",
        f"Sales at a fixed {SINGLE_SALE_RATE:g} requests/s (compared with the bare sale at the "
        f"same rate) and at {load_rate:g} requests/s, {OPEN_LOOP_SHARE:.0%} of Tally's own "
        f"closed-loop spread maximum (open loop), {plan.latency_duration:g}s each.",
    )
    ids = [v.id for v in vendors]
    report.figures["load_rate"] = load_rate
    for key, rate in (("single", SINGLE_SALE_RATE), ("load", load_rate)):
        before = Books.read(ids)
        flow = SaleFlow(vendors)
        result = _run(run_open(base_url, flow, rate=rate, duration=plan.latency_duration))
        after = Books.read(ids)
        report.figures[key] = {
            "rate": rate,
            "requests": len(result.samples),
            "latency_ms": result.latency_ms("sale"),
        }
        load_checks(report, result)
        books_checks(report, before, after, result, flow.sold_minor)
    report.load = {}
    verify_ledger_check(report)
    return report


def depth_vendor_load(*, entries: int) -> Vendor:
    """A vendor whose credit account holds ``entries`` entries: one credit from issuance,
    then sales to settlement, written set-based (the same rows the services would write)."""
    from tally.credit.ledger_vocabulary import ISSUANCE
    from tally.ledger import services as ledger
    from tally.topups.ledger_vocabulary import AIRTIME_SETTLEMENT

    (vendor,) = vendors_seed(count=1, credit_minor=0, label="depth")
    with transaction.atomic():
        issuance = ledger.account_system(kind=ISSUANCE)
        settlement = ledger.account_system(kind=AIRTIME_SETTLEMENT)
    sales = entries - 1
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ledger_account (owner_id, kind, currency, floored, balance,
                                        pending_debits, rolled_up_to_entry_id, created_at)
            VALUES (%(owner)s, 'vendor_credit', 'USD', true, 0, 0, 0, now())
            ON CONFLICT DO NOTHING
            """,
            {"owner": uuid.UUID(vendor.id)},
        )
        cursor.execute(
            "SELECT id FROM ledger_account WHERE owner_id = %s AND kind = 'vendor_credit'",
            [uuid.UUID(vendor.id)],
        )
        account = cursor.fetchone()[0]
        params = {
            "account": account,
            "issuance": issuance.id,
            "settlement": settlement.id,
            "sales": sales,
            "funding": sales * SALE_AMOUNT_MINOR,
            "owner": uuid.UUID(vendor.id),
        }
        with transaction.atomic():
            cursor.execute(
                """
                CREATE TEMP TABLE depth_transfer ON COMMIT DROP AS
                SELECT n, gen_random_uuid() AS id, gen_random_uuid() AS sale_id,
                       timestamptz '2020-01-01' + n * interval '1 second' AS at
                  FROM generate_series(0, %(sales)s) AS n
                """,
                params,
            )
            cursor.execute(
                """
                INSERT INTO topups_phonenumber (id, number, label, created_by_id, created_at)
                VALUES (gen_random_uuid(), '+16502539999', '', %(owner)s, now())
                ON CONFLICT (number) DO NOTHING
                """,
                params,
            )
            cursor.execute(
                """
                INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id,
                                             amount, reference, metadata, idempotency_scope,
                                             created_at)
                SELECT id, 'immediate',
                       CASE WHEN n = 0 THEN 'credit_increase' ELSE 'charge_sale' END,
                       CASE WHEN n = 0 THEN %(issuance)s ELSE %(account)s END,
                       CASE WHEN n = 0 THEN %(account)s ELSE %(settlement)s END,
                       CASE WHEN n = 0 THEN %(funding)s ELSE 100 END,
                       CASE WHEN n = 0 THEN %(owner)s::text ELSE sale_id::text END,
                       '{}'::jsonb, '', at
                  FROM depth_transfer ORDER BY n
                """,
                params,
            )
            cursor.execute(
                """
                INSERT INTO ledger_entry (account_id, transfer_id, amount, balance_after,
                                          created_at)
                SELECT account_id, transfer_id, amount, balance_after, at FROM (
                    SELECT n, 0 AS side,
                           CASE WHEN n = 0 THEN %(issuance)s ELSE %(account)s END AS account_id,
                           id AS transfer_id,
                           CASE WHEN n = 0 THEN -%(funding)s ELSE -100 END AS amount,
                           CASE WHEN n = 0 THEN NULL ELSE %(funding)s - 100 * n END
                               AS balance_after,
                           at
                      FROM depth_transfer
                    UNION ALL
                    SELECT n, 1,
                           CASE WHEN n = 0 THEN %(account)s ELSE %(settlement)s END,
                           id,
                           CASE WHEN n = 0 THEN %(funding)s ELSE 100 END,
                           CASE WHEN n = 0 THEN %(funding)s ELSE NULL END,
                           at
                      FROM depth_transfer
                ) AS e ORDER BY n, side
                """,
                params,
            )
            cursor.execute(
                """
                INSERT INTO topups_chargesale (id, vendor_id, phone_number_id, amount,
                                               transfer_id, created_at)
                SELECT d.sale_id, %(owner)s, p.id, 100, d.id, d.at
                  FROM depth_transfer AS d
                  JOIN topups_phonenumber AS p ON p.number = '+16502539999'
                 WHERE d.n > 0
                """,
                params,
            )
            # Credit then sales of 1.00 each: nothing left, exactly as the entries say.
            cursor.execute("UPDATE ledger_account SET balance = 0 WHERE id = %s", [account])
        cursor.execute("ANALYZE ledger_entry")
        cursor.execute("ANALYZE ledger_transfer")
    return vendor


def scenario_depth(base_url: str, plan: Plan) -> ScenarioReport:
    entries, page = plan.depth_entries, plan.depth_page
    report = ScenarioReport(
        "depth",
        f"Statement (`GET vendors/{{id}}/transactions/`) page 1 vs page {page:,} on a vendor "
        f"with {entries:,} entries.",
    )
    started = time.monotonic()
    vendor = depth_vendor_load(entries=entries)
    report.figures["load_s"] = round(time.monotonic() - started, 1)
    first_path = f"/api/v1/vendors/{vendor.id}/transactions/"

    async def walk(client: Client) -> str:
        path = first_path
        for _ in range(page - 1):
            status, body = await client.call("GET", path, headers=vendor.headers, tag="walk")
            if status != 200 or not body or not body.get("next"):
                raise RuntimeError(f"walking the statement stopped: {status}")
            path = body["next"].split("://", 1)[1].split("/", 1)[1]
            path = "/" + path
        return path

    walked = Result(mode="closed", concurrency=1, elapsed=0.0)

    async def walk_all() -> str:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            return await walk(Client(session, base_url, walked, time.perf_counter(), 0))

    deep_path = asyncio.run(walk_all())

    def timed(path: str) -> Result:
        async def flow(client: Client) -> None:
            await client.call("GET", path, headers=vendor.headers, tag="page")

        return _run(run_closed(base_url, flow, clients=1, duration=3.0 if plan.quick else 8.0))

    page_one, page_deep = timed(first_path), timed(deep_path)
    first_ms, deep_ms = page_one.latency_ms("page"), page_deep.latency_ms("page")
    report.figures.update(
        {
            "page_1_ms": first_ms,
            f"page_{page}_ms": deep_ms,
            "ratio_p50": round(deep_ms["p50"] / first_ms["p50"], 2),
        }
    )
    for result in (walked, page_one, page_deep):
        report.check(
            "no 5xx", result.server_errors() == 0, f"{result.server_errors()} failed requests"
        )
        report.failures.extend(result.failures)
    report.check(
        "every page answered 200",
        all(s.status == 200 for r in (walked, page_one, page_deep) for s in r.samples),
    )
    verify_ledger_check(report)
    return report


SCENARIOS: dict[str, Callable[..., ScenarioReport]] = {
    "hot": scenario_hot,
    "spread": scenario_spread,
    "mixed": scenario_mixed,
    "latency": scenario_latency,
    "depth": scenario_depth,
}


# --- offers: activations through the provider ---------------------------------------------

OFFER_PRICE_MINOR = 9_99


@dataclass(frozen=True)
class Customer:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def customers_seed(*, count: int, wallet_minor: int, first: int = 0) -> list[Customer]:
    """``count`` customers numbered from ``first``, each with ``wallet_minor`` in its wallet
    (issued through the ledger, as a vendor's wallet credit would; nothing when 0), signed in
    with a JWT access token. The same customers for the same numbers (a second call funds
    them again)."""
    from rest_framework_simplejwt.tokens import AccessToken

    from tally.credit.ledger_vocabulary import CUSTOMER_CREDIT, CUSTOMER_WALLET, ISSUANCE
    from tally.identity.models import CustomerProfile, User
    from tally.identity.services import customer_create
    from tally.ledger import services as ledger

    admin_token()
    admin = User.objects.get(email="bench-admin@example.com")
    customers = []
    for n in range(first, first + count):
        phone = f"+1650253{n:04d}"
        with transaction.atomic():
            profile = CustomerProfile.objects.filter(phone=phone).first() or customer_create(
                actor=admin, email=f"bench-customer-{n}@example.com", phone=phone
            )
            if wallet_minor:
                ledger.transfer_create(
                    debit_account=ledger.account_system(kind=ISSUANCE),
                    credit_account=ledger.account_get_or_create(
                        owner=profile.user, kind=CUSTOMER_WALLET
                    ),
                    amount_minor=wallet_minor,
                    code=CUSTOMER_CREDIT,
                )
        customers.append(
            Customer(id=str(profile.user_id), token=str(AccessToken.for_user(profile.user)))
        )
    return customers


def offer_seed() -> str:
    """An active offer for the bench, created through the catalog service."""
    from tally.identity.models import User
    from tally.offers.catalog import OfferDraft, offer_create

    admin_token()
    admin = User.objects.get(email="bench-admin@example.com")
    with transaction.atomic():
        offer = offer_create(
            actor=admin,
            draft=OfferDraft(
                name=f"Bench 5 GB {uuid.uuid4().hex[:6]}",
                kind="internet",
                price=OFFER_PRICE_MINOR,
                validity_days=30,
                data_mb=5_000,
            ),
        )
    return str(offer.id)


class ActivationFlow:
    """Buy the offer as one of ``customers``, then poll its status until it is final:
    what a customer's app does. Records request → final latency per activation."""

    FINAL = ("succeeded", "failed")

    def __init__(self, customers: list[Customer], offer_id: str, *, attempts: int) -> None:
        self.customers = customers
        self.offer_id = offer_id
        self.remaining = attempts
        self.rng = random.Random(11)
        self.accepted = 0
        self.refused: dict[int, int] = {}
        self.final: dict[str, int] = {"succeeded": 0, "failed": 0}
        self.unfinished = 0
        self.final_seconds: list[float] = []

    async def __call__(self, client: Client) -> None:
        if self.remaining <= 0:
            raise StopFlow()
        self.remaining -= 1
        customer = self.customers[self.rng.randrange(len(self.customers))]
        started = time.perf_counter()
        status, body = await client.call(
            "POST",
            "/api/v1/activations/",
            json_body={"offer": self.offer_id},
            headers={**customer.headers, "Idempotency-Key": str(uuid.uuid4())},
            tag="activate",
        )
        if status != 202 or not isinstance(body, dict):
            self.refused[status] = self.refused.get(status, 0) + 1
            return
        self.accepted += 1
        while time.perf_counter() - started < 120:
            await asyncio.sleep(0.05)
            status, body = await client.call(
                "GET", f"/api/v1/activations/{body['id']}/", headers=customer.headers, tag="status"
            )
            if status == 200 and isinstance(body, dict) and body.get("status") in self.FINAL:
                self.final[body["status"]] += 1
                self.final_seconds.append(time.perf_counter() - started)
                return
            if status != 200 or not isinstance(body, dict):
                break
        self.unfinished += 1


def _percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ordered = sorted(seconds)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


def _offer_books(customer_ids: list[str]) -> dict[str, int]:
    """Activations, their ledger postings and the wallets, as the database has them."""
    ids = [uuid.UUID(c) for c in customer_ids]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH wallets AS (
                SELECT id, balance, pending_debits FROM ledger_account
                 WHERE kind = 'customer_wallet' AND owner_id = ANY(%(ids)s)
            )
            SELECT (SELECT count(*) FROM offers_activation
                     WHERE customer_id = ANY(%(ids)s) AND status = 'succeeded'),
                   (SELECT count(*) FROM offers_activation
                     WHERE customer_id = ANY(%(ids)s) AND status = 'failed'),
                   (SELECT count(*) FROM offers_activation
                     WHERE customer_id = ANY(%(ids)s) AND status IN ('pending', 'processing')),
                   (SELECT coalesce(sum(amount), 0) FROM offers_activation
                     WHERE customer_id = ANY(%(ids)s) AND status = 'succeeded'),
                   (SELECT count(*) FROM ledger_transfer AS t JOIN wallets AS w
                        ON w.id = t.debit_account_id
                     WHERE t.kind = 'post_pending' AND t.code = 'offer_activation'),
                   (SELECT coalesce(sum(balance), 0) FROM wallets),
                   (SELECT coalesce(sum(pending_debits), 0) FROM wallets)
            """,
            {"ids": ids},
        )
        row = cursor.fetchone()
    assert row is not None
    names = ("succeeded", "failed", "in_flight", "paid_minor", "posts", "balance", "pending")
    return dict(zip(names, (int(v) for v in row), strict=True))


def scenario_activation(base_url: str, plan: Plan) -> ScenarioReport:
    """Customers buying an offer against the provider simulator at its default latency."""
    attempts = 64 if plan.quick else 1_500
    report = ScenarioReport(
        "activation",
        f"{plan.clients} clients buying an offer {attempts} times (202, then polling the "
        "status until final) against the simulated provider at its default latency and "
        "failure rate; the worker calls it, retries and settles.",
    )
    customers = customers_seed(count=100, wallet_minor=OFFER_PRICE_MINOR * 100)
    offer_id = offer_seed()
    ids = [c.id for c in customers]
    before = _offer_books(ids)
    flow = ActivationFlow(customers, offer_id, attempts=attempts)
    started = time.perf_counter()
    result = _run(run_closed(base_url, flow, clients=plan.clients))
    elapsed = time.perf_counter() - started
    after = _offer_books(ids)
    finished = flow.final["succeeded"] + flow.final["failed"]
    report.figures = {
        "activations": flow.accepted,
        "succeeded": flow.final["succeeded"],
        "failed": flow.final["failed"],
        "final_per_s": round(finished / elapsed, 1) if elapsed else 0.0,
        "request_to_final_ms": _percentiles_ms(flow.final_seconds),
        "accept_latency_ms": result.latency_ms("activate"),
    }
    load_checks(report, result)
    report.check(
        "every purchase answered 202", not flow.refused, f"refused: {flow.refused or 'none'}"
    )
    report.check(
        "every 202 ended succeeded or failed",
        flow.unfinished == 0 and finished == flow.accepted and after["in_flight"] == 0,
        f"{finished} final of {flow.accepted}; {flow.unfinished} unfinished; "
        f"{after['in_flight']} in flight in the database",
    )
    succeeded = after["succeeded"] - before["succeeded"]
    report.check(
        "succeeded in the database == succeeded answered",
        succeeded == flow.final["succeeded"],
        f"{succeeded} vs {flow.final['succeeded']}",
    )
    posts = after["posts"] - before["posts"]
    report.check(
        "debits == succeeded activations", posts == succeeded, f"{posts} posts, {succeeded}"
    )
    paid = after["paid_minor"] - before["paid_minor"]
    report.check(
        "wallets fell by exactly what succeeded cost",
        before["balance"] - after["balance"] == paid and after["pending"] == 0,
        f"wallets {after['balance'] - before['balance']:+}, paid {paid}, "
        f"still reserved {after['pending']}",
    )
    verify_ledger_check(report)
    return report


# --- marketplace orders: checkout with stock reserved --------------------------------------

ORDER_VARIANTS = 100
ORDER_VARIANTS_PER_SERVICE = 10
# Units of each ordinary variant: more than any run can order.
ORDER_AMPLE_STOCK = 1_000_000
# Shares of the orders that also buy one unit of the hot variant, are placed by guests, and
# are cancelled by their buyer right after checkout.
ORDER_HOT_SHARE = 0.25
ORDER_GUEST_SHARE = 0.5
ORDER_CANCEL_SHARE = 0.1
ORDER_ADDRESS = {
    "line1": "1 Bench Street",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94105",
    "country": "US",
}
# The states whose items still hold the units they reserved (unpaid, or paid).
ORDER_HOLDING_STATES = ["pending", "processing", "confirmed", "completed"]


@dataclass(frozen=True)
class Catalog:
    """The bench's variants: ``variants`` with ample stock, and one ``hot`` variant."""

    variants: list[str]
    hot: str
    initial_stock: dict[str, int]

    @property
    def all_ids(self) -> list[str]:
        return [*self.variants, self.hot]


def catalog_seed(*, variants: int, hot_stock: int, label: str = "orders") -> Catalog:
    """``variants`` variants of ``ORDER_AMPLE_STOCK`` units (ten per service, one service per
    active vendor) and one hot variant of ``hot_stock`` units, written straight to the
    database as a vendor's catalog would hold them."""
    from tally.catalog.models import Service, Variant

    services = ORDER_VARIANTS_PER_SERVICE
    sellers = vendors_seed(count=(variants + services - 1) // services, credit_minor=0, label=label)
    with transaction.atomic():
        rows = Service.objects.bulk_create(
            Service(
                vendor_id=uuid.UUID(seller.id),
                title=f"Bench service {n}",
                description="A service the bench orders.",
                category="bench",
            )
            for n, seller in enumerate(sellers)
        )
        hot_service = Service.objects.create(
            vendor_id=uuid.UUID(sellers[0].id),
            title="Bench limited offer",
            description="The service every shopper wants.",
            category="bench",
        )
        made = Variant.objects.bulk_create(
            [
                Variant(
                    service=rows[n // services],
                    name=f"Tier {n % services}",
                    sku=f"BENCH-{n}",
                    price=1_000 + 100 * (n % services),
                    stock=ORDER_AMPLE_STOCK,
                )
                for n in range(variants)
            ]
            + [
                Variant(
                    service=hot_service,
                    name="Last ones",
                    sku="BENCH-HOT",
                    price=2_500,
                    stock=hot_stock,
                )
            ]
        )
        hot = made[-1]
    ids = [str(v.pk) for v in made[:-1]]
    return Catalog(
        variants=ids,
        hot=str(hot.pk),
        initial_stock={**dict.fromkeys(ids, ORDER_AMPLE_STOCK), str(hot.pk): hot_stock},
    )


def catalog_hot_stock_set(catalog: Catalog, stock: int) -> None:
    """Give the hot variant ``stock`` units, before anyone ordered it."""
    from tally.catalog.models import Variant

    Variant.objects.filter(pk=catalog.hot, order_items__isnull=True).update(stock=stock)
    assert Variant.objects.get(pk=catalog.hot).stock == stock
    catalog.initial_stock[catalog.hot] = stock


@dataclass
class OrderAttempt:
    """One ``POST orders/`` as the client saw it (``perf_counter`` times)."""

    started: float
    ended: float
    hot_units: int
    status: int
    guest: bool
    code: str = ""
    variant_id: str = ""


@dataclass
class OrderCancel:
    started: float
    ended: float
    hot_units: int
    status: int


class OrderFlow:
    """A shopper's checkout: a guest (email and name, no account) or a signed-in customer
    orders one to three variants, one to three units each, sometimes one unit of the hot
    variant too, with an ``Idempotency-Key``; now and then it cancels the order it just
    placed (a guest with its access token)."""

    def __init__(
        self,
        *,
        variants: list[str],
        hot: str | None,
        customers: list[Customer],
        seed: int,
    ) -> None:
        self.variants = variants
        self.hot = hot
        self.customers = customers
        self.rng = random.Random(seed)
        self.attempts: list[OrderAttempt] = []
        self.cancels: list[OrderCancel] = []

    async def __call__(self, client: Client) -> None:
        rng = self.rng
        chosen = rng.sample(self.variants, rng.randint(1, 3))
        items = [{"variant_id": v, "quantity": rng.randint(1, 3)} for v in chosen]
        hot_units = 0
        if self.hot is not None and rng.random() < ORDER_HOT_SHARE:
            hot_units = 1
            items.append({"variant_id": self.hot, "quantity": hot_units})
        body: dict[str, Any] = {"items": items, "shipping_address": ORDER_ADDRESS}
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        guest = rng.random() < ORDER_GUEST_SHARE
        if guest:
            body |= {"email": f"bench-guest-{rng.randrange(10**6)}@example.com", "name": "Guest"}
            buyer: dict[str, str] = {}
        else:
            buyer = rng.choice(self.customers).headers
        started = time.perf_counter()
        status, answer = await client.call(
            "POST", "/api/v1/orders/", json_body=body, headers={**headers, **buyer}, tag="order"
        )
        attempt = OrderAttempt(started, time.perf_counter(), hot_units, status, guest)
        self.attempts.append(attempt)
        if not isinstance(answer, dict):
            return
        if status == 422:
            attempt.code = str(answer.get("code", ""))
            attempt.variant_id = str(answer.get("variant_id", ""))
        if status == 201 and rng.random() < ORDER_CANCEL_SHARE:
            if guest:
                buyer = {"Order-Token": str(answer.get("access_token"))}
            started = time.perf_counter()
            status, _ = await client.call(
                "POST",
                f"/api/v1/orders/{answer['id']}/cancel/",
                json_body={},
                headers=buyer,
                tag="cancel",
            )
            self.cancels.append(OrderCancel(started, time.perf_counter(), hot_units, status))


def refusals_before_sold_out(
    attempts: list[OrderAttempt], cancels: list[OrderCancel], *, stock: int
) -> list[OrderAttempt]:
    """The hot variant's ``out_of_stock`` refusals that came while it provably still had
    units left, judged from the client's clock alone.

    During a refusal ``r`` (from ``s`` to ``e``), at most ``U`` units can have been held:
    every unit asked by another attempt that started before ``e``, except attempts refused
    before ``s``, minus the units of orders whose cancel answered 200 before ``s`` (their
    units were back by then). Over-counting ``U`` only makes the test more lenient, so an
    attempt answered with a failure still counts as holding. ``r`` was premature if
    ``stock - U`` still covered what it asked.
    """
    import bisect

    hot = [a for a in attempts if a.hot_units]
    starts = sorted(hot, key=lambda a: a.started)
    start_times = [a.started for a in starts]
    start_units = _prefix([a.hot_units for a in starts])
    refused = sorted((a for a in hot if a.status == 422), key=lambda a: a.ended)
    refused_ends = [a.ended for a in refused]
    refused_units = _prefix([a.hot_units for a in refused])
    back = sorted((c for c in cancels if c.hot_units and c.status == 200), key=lambda c: c.ended)
    back_ends = [c.ended for c in back]
    back_units = _prefix([c.hot_units for c in back])
    premature = []
    for r in refused:
        if r.code != "out_of_stock":
            continue
        asked = start_units[bisect.bisect_left(start_times, r.ended)] - r.hot_units
        asked -= refused_units[bisect.bisect_left(refused_ends, r.started)]
        asked -= back_units[bisect.bisect_left(back_ends, r.started)]
        if stock - asked >= r.hot_units:
            premature.append(r)
    return premature


def _prefix(values: list[int]) -> list[int]:
    """``[0, v0, v0+v1, …]``: entry ``k`` is the sum of the first ``k`` values."""
    sums = [0]
    for value in values:
        sums.append(sums[-1] + value)
    return sums


def _latency_of(samples: list[Any]) -> dict[str, float]:
    from bench.loadgen import percentile

    latencies = sorted(s.latency for s in samples if s.status != 0)
    if not latencies:
        return {}
    return {
        "p50": round(1000 * percentile(latencies, 50), 2),
        "p95": round(1000 * percentile(latencies, 95), 2),
        "p99": round(1000 * percentile(latencies, 99), 2),
        "max": round(1000 * latencies[-1], 2),
    }


@dataclass
class OrderBooks:
    """The bench's orders and its variants' stock, as the database has them."""

    stock: dict[str, int | None]
    # Units in orders that still hold what they reserved (ORDER_HOLDING_STATES).
    held: dict[str, int]
    orders: int
    guest_orders: int
    cancelled: int
    cancelled_unreleased: int
    negative_stock: int

    @classmethod
    def read(cls, variant_ids: list[str]) -> OrderBooks:
        ids = [uuid.UUID(v) for v in variant_ids]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT v.id::text, v.stock,
                       coalesce(sum(i.quantity) FILTER (WHERE o.status = ANY(%(holding)s)), 0)
                  FROM catalog_variant AS v
                  LEFT JOIN orders_orderitem AS i ON i.variant_id = v.id
                  LEFT JOIN orders_order AS o ON o.id = i.order_id
                 WHERE v.id = ANY(%(ids)s)
                 GROUP BY v.id, v.stock
                """,
                {"ids": ids, "holding": ORDER_HOLDING_STATES},
            )
            rows = cursor.fetchall()
            cursor.execute(
                """
                SELECT count(*),
                       count(*) FILTER (WHERE o.customer_id IS NULL),
                       count(*) FILTER (WHERE o.status = 'cancelled'),
                       count(*) FILTER (WHERE o.status = 'cancelled'
                                          AND o.stock_released_at IS NULL),
                       (SELECT count(*) FROM catalog_variant WHERE stock < 0)
                  FROM orders_order AS o
                 WHERE EXISTS (SELECT 1 FROM orders_orderitem AS i
                                WHERE i.order_id = o.id AND i.variant_id = ANY(%(ids)s))
                """,
                {"ids": ids},
            )
            counts = cursor.fetchone()
        assert counts is not None
        return cls(
            stock={row[0]: row[1] for row in rows},
            held={row[0]: int(row[2]) for row in rows},
            orders=int(counts[0]),
            guest_orders=int(counts[1]),
            cancelled=int(counts[2]),
            cancelled_unreleased=int(counts[3]),
            negative_stock=int(counts[4]),
        )


def orders_checks(
    report: ScenarioReport, catalog: Catalog, flows: list[OrderFlow], books: OrderBooks
) -> None:
    """The database against what the clients were answered."""
    attempts = [a for flow in flows for a in flow.attempts]
    cancels = [c for flow in flows for c in flow.cancels]
    stock_checks(report, catalog, books)
    placed = [a for a in attempts if a.status == 201]
    report.check(
        "orders in the database == 201 answers",
        books.orders == len(placed),
        f"{books.orders} orders, {len(placed)} answers",
    )
    guests = sum(1 for a in placed if a.guest)
    report.check(
        "guest orders in the database == guests' 201 answers",
        books.guest_orders == guests,
        f"{books.guest_orders} vs {guests}",
    )
    cancelled = sum(1 for c in cancels if c.status == 200)
    report.check(
        "cancelled orders == 200 cancels, each with its stock released",
        books.cancelled == cancelled == len(cancels) and books.cancelled_unreleased == 0,
        f"{books.cancelled} cancelled in the database ({books.cancelled_unreleased} "
        f"unreleased), {cancelled} of {len(cancels)} cancels answered 200",
    )
    other = [a for a in attempts if a.status not in (201, 422)]
    wrong = [
        a
        for a in attempts
        if a.status == 422
        and (a.code != "out_of_stock" or a.variant_id != catalog.hot or not a.hot_units)
    ]
    report.check(
        "refusals are out_of_stock of the hot variant only",
        not wrong and not other,
        f"{len(wrong)} other 422s"
        + (f" (first: {wrong[0].code} {wrong[0].variant_id})" if wrong else "")
        + f"; {len(other)} answers neither 201 nor 422",
    )
    refused = [a for a in attempts if a.status == 422]
    report.check(
        "the hot variant sold out (demand above its stock)",
        bool(refused),
        f"{len(refused)} refusals, {books.stock[catalog.hot]} units left",
    )
    early = refusals_before_sold_out(attempts, cancels, stock=catalog.initial_stock[catalog.hot])
    report.check(
        "out_of_stock only once the hot variant was exhausted",
        not early,
        f"{len(early)} refusals while units were provably left",
    )


def stock_checks(report: ScenarioReport, catalog: Catalog, books: OrderBooks) -> None:
    """Per variant, the units reserved equal the units of the orders holding them; no stock
    below zero."""
    mismatched = []
    for variant_id in catalog.all_ids:
        left = books.stock[variant_id]
        reserved = None if left is None else catalog.initial_stock[variant_id] - left
        if reserved != books.held[variant_id]:
            mismatched.append(f"{variant_id}: {reserved} reserved, {books.held[variant_id]} held")
    report.check(
        "reserved units == units of orders holding them, per variant",
        not mismatched,
        f"{len(mismatched)} of {len(catalog.all_ids)} variants differ"
        + (f": {'; '.join(mismatched[:3])}" if mismatched else ""),
    )
    report.check("no negative stock", books.negative_stock == 0, f"{books.negative_stock}")


def hot_stock_for(*, warm_up_orders_per_s: float, duration: float, floor: int) -> int:
    """The hot variant's units: a third of the demand the run is expected to bring it (its
    share of the orders at the warm-up's rate), so it sells out early in the run on any
    machine, and at least ``floor``."""
    return max(floor, round(warm_up_orders_per_s * duration * ORDER_HOT_SHARE / 3))


def scenario_orders(base_url: str, plan: Plan) -> ScenarioReport:
    """Guests and customers placing orders against limited stock (and cancelling some)."""
    catalog = catalog_seed(variants=ORDER_VARIANTS, hot_stock=0)
    customers = customers_seed(count=100, wallet_minor=0)
    # Unmeasured: every web worker runs the checkout's code paths before the figures (no hot
    # variant); its orders are checked with the rest. Its rate sizes the hot variant's stock.
    warm = OrderFlow(variants=catalog.variants, hot=None, customers=customers, seed=17)
    warm_result = _run(
        run_closed(base_url, warm, clients=plan.clients, duration=plan.orders_warm_up)
    )
    hot_stock = hot_stock_for(
        warm_up_orders_per_s=warm_result.throughput("order", 201),
        duration=plan.orders_duration,
        floor=plan.orders_hot_stock_min,
    )
    catalog_hot_stock_set(catalog, hot_stock)
    report = ScenarioReport(
        "orders",
        f"{plan.clients} clients placing orders for {plan.orders_duration:g}s, "
        f"{ORDER_GUEST_SHARE:.0%} as guests, the rest as 100 signed-in customers: 1-3 of "
        f"{ORDER_VARIANTS} variants with ample stock, and in {ORDER_HOT_SHARE:.0%} of orders "
        f"one unit of a hot variant of {hot_stock:,} units; {ORDER_CANCEL_SHARE:.0%} of the "
        "placed orders cancelled by their buyer at once.",
    )
    flow = OrderFlow(variants=catalog.variants, hot=catalog.hot, customers=customers, seed=19)
    result = _run(run_closed(base_url, flow, clients=plan.clients, duration=plan.orders_duration))
    books = OrderBooks.read(catalog.all_ids)
    samples = result.select("order")
    placed = [s for s in samples if s.status == 201]
    refused = [s for s in samples if s.status == 422]
    report.figures = {
        "orders": len(placed),
        "guest_orders": sum(1 for a in flow.attempts if a.status == 201 and a.guest),
        "orders_per_s": round(result.throughput("order", 201), 1),
        "attempts_per_s": round(result.throughput("order"), 1),
        "latency_ms": _latency_of(placed),
        "out_of_stock": len(refused),
        "out_of_stock_per_s": round(result.throughput("order", 422), 1),
        "out_of_stock_latency_ms": _latency_of(refused),
        "cancels": len(flow.cancels),
        "cancels_per_s": round(result.throughput("cancel"), 1),
        "cancel_latency_ms": _latency_of(result.select("cancel")),
        "hot_stock": hot_stock,
        "hot_units_held": books.held[catalog.hot],
        "hot_sold_out_after_s": round(min(s.started for s in refused), 2) if refused else None,
        "warm_up_orders": sum(1 for a in warm.attempts if a.status == 201),
    }
    report.check(
        "no 5xx while warming up",
        warm_result.server_errors() == 0,
        f"{warm_result.server_errors()} failed requests",
    )
    report.failures.extend(warm_result.failures)
    load_checks(report, result)
    orders_checks(report, catalog, [warm, flow], books)
    verify_ledger_check(report)
    return report


# --- checkout: an order paid from the customer's wallet ------------------------------------

# Customers are numbered apart from the other scenarios' (their wallets are checked to the
# unit, so nobody else may spend from them).
CHECKOUT_FIRST_CUSTOMER = 1_000
CHECKOUT_CUSTOMERS = 100
# Each funded wallet holds hundreds of the largest possible orders: no run empties one.
CHECKOUT_WALLET_MINOR = 10_000_000
# A few customers can afford exactly one small order (one unit of the cheapest variant):
# every CHECKOUT_SHORT_EVERY-th checkout is one of theirs in turn, so from the second round
# on, theirs are refused 422 insufficient_funds, and concurrent payments race for the last
# money (the first 32 checkouts start at once: each short customer pays twice at once).
CHECKOUT_SHORT_CUSTOMERS = 3
CHECKOUT_SHORT_EVERY = 6


@dataclass
class CheckoutAttempt:
    """One checkout as the client saw it (``perf_counter`` times): ``POST orders/``, then,
    when placed, ``POST orders/{id}/process-payment/``."""

    customer_id: str
    started: float
    order_status: int
    order_id: str = ""
    total: str = ""
    payment_status: int | None = None  # None: not sent (the order was not placed)
    payment_id: str = ""
    payment_code: str = ""
    paid: str = ""  # the amount answered 201
    ended: float = 0.0

    @property
    def completed(self) -> bool:
        return self.order_status == 201 and self.payment_status == 201


class CheckoutFlow:
    """A signed-in customer's checkout: an order of one to three variants (one to three units
    each), paid from its wallet; both requests with an ``Idempotency-Key``. Every
    ``short_every``-th checkout is a short customer's, in turn: one unit of ``short_variant``."""

    def __init__(
        self,
        *,
        variants: list[str],
        customers: list[Customer],
        seed: int,
        short: list[Customer] | None = None,
        short_variant: str = "",
        short_every: int = CHECKOUT_SHORT_EVERY,
    ) -> None:
        self.variants = variants
        self.customers = customers
        self.short = short or []
        self.short_variant = short_variant
        self.short_every = short_every
        self.rng = random.Random(seed)
        self.started = 0
        self.attempts: list[CheckoutAttempt] = []

    def basket(self) -> tuple[Customer, list[dict[str, Any]]]:
        n, self.started = self.started, self.started + 1
        if self.short and n % self.short_every == 0:
            customer = self.short[(n // self.short_every) % len(self.short)]
            return customer, [{"variant_id": self.short_variant, "quantity": 1}]
        rng = self.rng
        chosen = rng.sample(self.variants, rng.randint(1, 3))
        items = [{"variant_id": v, "quantity": rng.randint(1, 3)} for v in chosen]
        return rng.choice(self.customers), items

    async def __call__(self, client: Client) -> None:
        customer, items = self.basket()
        started = time.perf_counter()
        status, answer = await client.call(
            "POST",
            "/api/v1/orders/",
            json_body={"items": items, "shipping_address": ORDER_ADDRESS},
            headers={**customer.headers, "Idempotency-Key": str(uuid.uuid4())},
            tag="order",
        )
        attempt = CheckoutAttempt(customer.id, started, status)
        self.attempts.append(attempt)
        if status != 201 or not isinstance(answer, dict):
            attempt.ended = time.perf_counter()
            return
        attempt.order_id, attempt.total = str(answer["id"]), str(answer["total"])
        status, answer = await client.call(
            "POST",
            f"/api/v1/orders/{attempt.order_id}/process-payment/",
            json_body={"method": "wallet"},
            headers={**customer.headers, "Idempotency-Key": str(uuid.uuid4())},
            tag="payment",
        )
        attempt.ended = time.perf_counter()
        attempt.payment_status = status
        if isinstance(answer, dict):
            if status == 201:
                attempt.payment_id, attempt.paid = str(answer["id"]), str(answer["amount"])
            else:
                attempt.payment_code = str(answer.get("code", ""))


@dataclass
class CheckoutBooks:
    """What the database says about the checkout customers' orders, payments and wallets,
    and the catalog vendors' earnings."""

    # order id → (customer id, status, total)
    orders: dict[str, tuple[str, str, int]]
    # payment id → (order id, status, method, amount)
    payments: dict[str, tuple[str, str, str, int]]
    # customer id → (wallet balance, credited to the wallet)
    wallets: dict[str, tuple[int, int]]
    # vendor id → its earnings account's balance (0 before it has one)
    earnings: dict[str, int]
    negative_floored: int
    clearing_wallet: int

    @classmethod
    def read(cls, customer_ids: list[str], vendor_ids: list[str]) -> CheckoutBooks:
        from tally.ledger.models import Account
        from tally.ledger.selectors import account_balance
        from tally.payments.ledger_vocabulary import CLEARING_WALLET

        customers = [uuid.UUID(c) for c in customer_ids]
        vendors = [uuid.UUID(v) for v in vendor_ids]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id::text, customer_id::text, status, total FROM orders_order"
                " WHERE customer_id = ANY(%s)",
                [customers],
            )
            orders = {row[0]: (row[1], row[2], int(row[3])) for row in cursor.fetchall()}
            cursor.execute(
                """
                SELECT p.id::text, p.order_id::text, p.status, p.method, p.amount
                  FROM payments_payment AS p JOIN orders_order AS o ON o.id = p.order_id
                 WHERE o.customer_id = ANY(%s)
                """,
                [customers],
            )
            payments = {r[0]: (r[1], r[2], r[3], int(r[4])) for r in cursor.fetchall()}
            cursor.execute(
                """
                SELECT a.owner_id::text, a.balance,
                       coalesce((SELECT sum(t.amount) FROM ledger_transfer AS t
                                  WHERE t.credit_account_id = a.id
                                    AND t.code = 'customer_credit'), 0)
                  FROM ledger_account AS a
                 WHERE a.kind = 'customer_wallet' AND a.owner_id = ANY(%s)
                """,
                [customers],
            )
            wallets = {row[0]: (int(row[1]), int(row[2])) for row in cursor.fetchall()}
            cursor.execute(
                "SELECT owner_id::text, balance FROM ledger_account"
                " WHERE kind = 'vendor_earnings' AND owner_id = ANY(%s)",
                [vendors],
            )
            earnings = dict.fromkeys(vendor_ids, 0) | {r[0]: int(r[1]) for r in cursor.fetchall()}
            cursor.execute("SELECT count(*) FROM ledger_account WHERE floored AND balance < 0")
            (negative,) = cursor.fetchone() or (0,)
        clearing = Account.objects.filter(owner__isnull=True, kind=CLEARING_WALLET).first()
        return cls(
            orders=orders,
            payments=payments,
            wallets=wallets,
            earnings=earnings,
            negative_floored=int(negative),
            clearing_wallet=0 if clearing is None else account_balance(account=clearing).balance,
        )


def catalog_vendor_ids(catalog: Catalog) -> list[str]:
    """The vendors selling the catalog's variants."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT s.vendor_id::text FROM catalog_variant AS v
              JOIN catalog_service AS s ON s.id = v.service_id
             WHERE v.id = ANY(%s)
            """,
            [[uuid.UUID(v) for v in catalog.all_ids]],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _minor(amount: str) -> int:
    from tally.platform.money import to_minor

    return to_minor(amount)


def checkout_checks(
    report: ScenarioReport,
    catalog: Catalog,
    flows: list[CheckoutFlow],
    books: CheckoutBooks,
    stock: OrderBooks,
) -> None:
    """The database against what the clients were answered: every 201 payment captured and
    its order confirmed; each wallet down by exactly its captured payments; each payment's
    settlement transfers adding up to its order's total, split as ``order_split`` says; each
    vendor's earnings the sum of its shares; refusals only when the wallet was short."""
    from tally.orders.models import Order, OrderItem
    from tally.payments.models import Payment
    from tally.payments.services import order_split
    from tally.payments.testing import payment_split_of

    attempts = [a for flow in flows for a in flow.attempts]
    placed = [a for a in attempts if a.order_status == 201]
    paid = [a for a in attempts if a.payment_status == 201]
    refused = [a for a in attempts if a.payment_status == 422]

    report.check(
        "every order answered 201",
        len(placed) == len(attempts),
        f"{len(attempts) - len(placed)} of {len(attempts)} not placed: "
        f"{dict(sorted(Counter(a.order_status for a in attempts).items()))}",
    )
    report.check(
        "orders in the database == 201 answers",
        set(books.orders) == {a.order_id for a in placed},
        f"{len(books.orders)} orders, {len(placed)} answers",
    )
    other = [a for a in placed if a.payment_status not in (201, 422)]
    wrong = [a for a in refused if a.payment_code != "insufficient_funds"]
    report.check(
        "every payment answered 201, or 422 insufficient_funds",
        not other and not wrong,
        f"{len(other)} answered neither"
        + (f" (first: {other[0].payment_status})" if other else "")
        + f"; {len(wrong)} other 422s"
        + (f" (first: {wrong[0].payment_code})" if wrong else ""),
    )
    not_captured = [
        a.payment_id
        for a in paid
        if books.payments.get(a.payment_id, ("", "", "", 0))[:3]
        != (a.order_id, "captured", "wallet")
        or books.orders.get(a.order_id, ("", "", 0))[1] != "confirmed"
    ]
    report.check(
        "every 201 payment is captured and its order confirmed",
        not not_captured,
        f"{len(not_captured)} of {len(paid)}"
        + (f" (first: {not_captured[0]})" if not_captured else ""),
    )
    report.check(
        "payments in the database == 201 answers",
        set(books.payments) == {a.payment_id for a in paid},
        f"{len(books.payments)} payments, {len(paid)} answers",
    )
    misstated = [
        a.payment_id
        for a in paid
        if _minor(a.paid) != _minor(a.total)
        or books.payments.get(a.payment_id, ("", "", "", -1))[3]
        != books.orders.get(a.order_id, ("", "", -2))[2]
    ]
    report.check(
        "each payment's amount == its order's total (answered and written)",
        not misstated,
        f"{len(misstated)} differ",
    )
    left_over = [
        a.order_id
        for a in refused
        if books.orders.get(a.order_id, ("", "", 0))[1] != "pending"
        or any(p[0] == a.order_id for p in books.payments.values())
    ]
    report.check(
        "a refused payment wrote nothing: its order pending, no payment row",
        not left_over,
        f"{len(left_over)} of {len(refused)}",
    )
    unsettled = [o for o, (_, status, _) in books.orders.items() if status == "processing"]
    report.check("no order left processing", not unsettled, f"{len(unsettled)}")

    # Each wallet: credited minus what was captured from it, and what the clients were told.
    captured: dict[str, int] = {}
    for order_id, status, method, amount in books.payments.values():
        if status == "captured" and method == "wallet":
            customer = books.orders[order_id][0]
            captured[customer] = captured.get(customer, 0) + amount
    answered: dict[str, int] = {}
    for a in paid:
        answered[a.customer_id] = answered.get(a.customer_id, 0) + _minor(a.paid)
    customers = {c.id for flow in flows for c in [*flow.customers, *flow.short]}
    off = [
        f"{c}: balance {books.wallets.get(c, (0, 0))[0]}, credited "
        f"{books.wallets.get(c, (0, 0))[1]}, captured {captured.get(c, 0)}, "
        f"answered {answered.get(c, 0)}"
        for c in sorted(customers)
        if books.wallets.get(c, (0, 0))[0] != books.wallets.get(c, (0, 0))[1] - captured.get(c, 0)
        or captured.get(c, 0) != answered.get(c, 0)
    ]
    report.check(
        "per customer, wallet == credited - captured wallet payments == credited - 201s",
        not off,
        f"{len(off)} of {len(customers)} wallets differ" + (f": {off[0]}" if off else ""),
    )
    # A wallet only ever fell during the run, so a refusal was right only if even the final
    # balance is below the refused order's total.
    unjustified = [
        a for a in refused if books.wallets.get(a.customer_id, (0, 0))[0] >= _minor(a.total)
    ]
    report.check(
        "insufficient_funds only when the wallet held less than the order's total",
        not unjustified,
        f"{len(unjustified)} of {len(refused)} refusals while the wallet still held enough"
        + (
            f" (first: {unjustified[0].total} refused, "
            f"{books.wallets.get(unjustified[0].customer_id, (0, 0))[0]} minor left)"
            if unjustified
            else ""
        ),
    )
    report.check(
        "no negative balance (floored accounts)",
        books.negative_floored == 0,
        f"{books.negative_floored} accounts below zero",
    )
    report.check(
        "the wallet clearing account nets to zero",
        books.clearing_wallet == 0,
        f"{books.clearing_wallet}",
    )

    # Each payment's settlement, from the ledger, against the split of its order's lines.
    orders = Order.objects.in_bulk(
        [books.payments[p][0] for p in books.payments if books.payments[p][1] == "captured"]
    )
    items: dict[Any, list[OrderItem]] = {pk: [] for pk in orders}
    for item in OrderItem.objects.filter(order_id__in=list(orders)):
        items[item.order_id].append(item)
    short_total, wrong_split = [], []
    shares: dict[str, int] = {}
    for payment in Payment.objects.filter(pk__in=list(books.payments), status="captured"):
        order = orders[payment.order_id]
        split = payment_split_of(payment)
        if sum(split.values()) != order.total:
            short_total.append(f"{payment.pk}: {sum(split.values())} of {order.total}")
        expected = order_split(order, items[order.pk])
        wanted = {f"vendor:{v}": amount for v, amount in expected.vendors.items()}
        wanted |= {"platform_commission": expected.commission, "tax_collected": expected.tax}
        if split != {k: v for k, v in wanted.items() if v}:
            wrong_split.append(f"{payment.pk}: {split} vs {wanted}")
        for vendor, amount in expected.vendors.items():
            shares[str(vendor)] = shares.get(str(vendor), 0) + amount
    report.check(
        "per payment, settlement transfers == its order's total",
        not short_total,
        f"{len(short_total)} of {len(books.payments)}"
        + (f" (first: {short_total[0]})" if short_total else ""),
    )
    report.check(
        "per payment, each part of the split as order_split computes it",
        not wrong_split,
        f"{len(wrong_split)} of {len(books.payments)}"
        + (f" (first: {wrong_split[0]})" if wrong_split else ""),
    )
    unequal = [
        f"{v}: earnings {books.earnings.get(v, 0)}, shares {shares.get(v, 0)}"
        for v in sorted(set(books.earnings) | set(shares))
        if books.earnings.get(v, 0) != shares.get(v, 0)
    ]
    report.check(
        "per vendor, earnings == the sum of its shares",
        not unequal,
        f"{len(unequal)} of {len(books.earnings)} vendors differ"
        + (f": {unequal[0]}" if unequal else ""),
    )
    stock_checks(report, catalog, stock)


def _latency_ms_of(seconds: list[float]) -> dict[str, float]:
    from bench.loadgen import percentile

    ordered = sorted(seconds)
    if not ordered:
        return {}
    return {
        "p50": round(1000 * percentile(ordered, 50), 2),
        "p95": round(1000 * percentile(ordered, 95), 2),
        "p99": round(1000 * percentile(ordered, 99), 2),
        "max": round(1000 * ordered[-1], 2),
    }


def short_order_total(variant_id: str) -> int:
    """What one unit of ``variant_id`` costs in an order: its price, the shipping, the tax."""
    from django.conf import settings

    from tally.catalog.models import Variant
    from tally.orders.services import order_tax_of
    from tally.platform.money import to_minor

    price = Variant.objects.get(pk=variant_id).price
    return price + to_minor(str(settings.ORDER_SHIPPING_FEE)) + order_tax_of(price)


def scenario_checkout(base_url: str, plan: Plan) -> ScenarioReport:
    """Customers placing an order and paying it from their wallets, back to back."""
    catalog = catalog_seed(variants=ORDER_VARIANTS, hot_stock=0, label="checkout")
    funded_count = CHECKOUT_CUSTOMERS - CHECKOUT_SHORT_CUSTOMERS
    customers = customers_seed(
        count=funded_count, wallet_minor=CHECKOUT_WALLET_MINOR, first=CHECKOUT_FIRST_CUSTOMER
    )
    short_variant = catalog.variants[0]
    short_total = short_order_total(short_variant)
    short_wallet = short_total + short_total // 2
    short = customers_seed(
        count=CHECKOUT_SHORT_CUSTOMERS,
        wallet_minor=short_wallet,
        first=CHECKOUT_FIRST_CUSTOMER + funded_count,
    )
    # Unmeasured: every web worker runs the payment's code paths before the figures (funded
    # customers only); its checkouts are checked with the rest.
    warm = CheckoutFlow(variants=catalog.variants, customers=customers, seed=23)
    warm_result = _run(
        run_closed(base_url, warm, clients=plan.clients, duration=plan.checkout_warm_up)
    )
    report = ScenarioReport(
        "checkout",
        f"{plan.clients} clients checking out for {plan.checkout_duration:g}s as "
        f"{CHECKOUT_CUSTOMERS} signed-in customers: an order of 1-3 of {ORDER_VARIANTS} "
        "variants (1-3 units each, ample stock), then its payment from the wallet, each with "
        f"an Idempotency-Key; every {CHECKOUT_SHORT_EVERY}th checkout is one of "
        f"{CHECKOUT_SHORT_CUSTOMERS} customers whose wallets hold one and a half of their "
        "order, so their later payments are refused.",
    )
    flow = CheckoutFlow(
        variants=catalog.variants,
        customers=customers,
        short=short,
        short_variant=short_variant,
        seed=29,
    )
    result = _run(run_closed(base_url, flow, clients=plan.clients, duration=plan.checkout_duration))
    customer_ids = [c.id for c in [*customers, *short]]
    books = CheckoutBooks.read(customer_ids, catalog_vendor_ids(catalog))
    stock = OrderBooks.read(catalog.all_ids)
    done = [a for a in flow.attempts if a.completed]
    refused = [a for a in flow.attempts if a.payment_status == 422]
    payments = result.select("payment")
    report.figures = {
        "checkouts": len(done),
        "checkouts_per_s": round(len(done) / result.elapsed, 1) if result.elapsed else 0.0,
        "checkout_latency_ms": _latency_ms_of([a.ended - a.started for a in done]),
        "payments_per_s": round(result.throughput("payment", 201), 1),
        "payment_latency_ms": _latency_of([s for s in payments if s.status == 201]),
        "order_latency_ms": _latency_of([s for s in result.select("order") if s.status == 201]),
        "refused_insufficient_funds": len(refused),
        "refused_per_s": round(result.throughput("payment", 422), 1),
        "refused_latency_ms": _latency_of([s for s in payments if s.status == 422]),
        "paid_minor": sum(_minor(a.paid) for a in done),
        "short_order_total_minor": short_total,
        "short_wallet_minor": short_wallet,
        "warm_up_checkouts": sum(1 for a in warm.attempts if a.completed),
    }
    report.check(
        "no 5xx while warming up",
        warm_result.server_errors() == 0,
        f"{warm_result.server_errors()} failed requests",
    )
    report.failures.extend(warm_result.failures)
    load_checks(report, result)
    checkout_checks(report, catalog, [warm, flow], books, stock)
    report.check(
        "the short wallets ran dry (some payments refused)",
        bool(refused),
        f"{len(refused)} refusals",
    )
    verify_ledger_check(report)
    return report
