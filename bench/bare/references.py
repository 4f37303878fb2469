"""The bare references, measured in the same run as Tally's scenarios.

The bare app (bench/bare/app.py) runs on its own port under the same server, worker count
and gunicorn settings as Tally's web, on its own two tables in the bench database, and the
same load generator drives it with the same clients:

- ``bare_sale_hot``: one account with credit for exactly N sales, 2N attempts (as Tally's
  ``hot``); the rate counts the 201s up to the last one.
- ``bare_sale_spread``: 100 accounts with ample credit, for the scenarios' duration (as
  Tally's ``spread``).
- ``bare_read``: ``GET /balance/<id>/`` over the same 100 accounts (one SELECT).
- ``bare_ping``: ``GET /ping/``, no database: the framework ceiling without Tally's stack.

Each returns its figures with ``errors`` (5xx and lost connections) and ``checks`` (the
bare books: rows written == 201 answers, credit moved == amounts answered 201); a failed
check or an error is an anomaly of the run, as for every limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.loadgen import Client, Result, StopFlow, run_closed, run_open
from bench.scenarios import PHONE_NUMBERS, SALE_AMOUNT_MINOR, Plan
from bench.stack import Processes, wait_http_ok, web_argv
from tally.platform.testing.live_server import free_port

NAMES = ("bare_sale_hot", "bare_sale_spread", "bare_sale_single", "bare_read", "bare_ping")
BARE_WSGI = "bench.bare.wsgi:application"
_TALLY_WSGI = "config.wsgi:application"
SPREAD_ACCOUNTS = 100
# Account ids: one range per use, so each run's books are read apart.
_HOT_ACCOUNT = 1
_SPREAD_FIRST = 1_001
_WARM_UP_ACCOUNT = 9_001
_AMPLE_CREDIT = 10**15

TABLES_SQL = """
DROP TABLE IF EXISTS bare_sale;
DROP TABLE IF EXISTS bare_account;
CREATE TABLE bare_account (id bigint PRIMARY KEY, credit bigint NOT NULL);
CREATE TABLE bare_sale (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL,
    amount bigint NOT NULL,
    phone text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def bare_argv(server: str, *, port: int, workers: int) -> list[str]:
    """Tally's web command line (same server, settings file and workers), serving the bare
    app instead."""
    argv = web_argv(server, port=port, workers=workers)
    return [BARE_WSGI if arg == _TALLY_WSGI else arg for arg in argv]


@contextlib.contextmanager
def bare_running(
    processes: Processes, *, server: str, workers: int, database_url: str
) -> Iterator[str]:
    """Create the bare tables, start the bare app; yield its base URL; stop it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(TABLES_SQL)
    port = free_port()
    processes.spawn(
        "bare",
        bare_argv(server, port=port, workers=workers),
        extra_env={
            "DJANGO_SETTINGS_MODULE": "bench.bare.settings",
            "BARE_DATABASE_URL": database_url,
        },
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/ping/", processes, "bare")
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop("bare")


def accounts_seed(database_url: str, ids: list[int], *, credit: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO bare_account (id, credit) SELECT unnest(%s::bigint[]), %s",
            [ids, credit],
        )


@dataclass(frozen=True)
class BareBooks:
    sales: int
    sales_amount: int
    credit: int

    @classmethod
    def read(cls, database_url: str, ids: list[int]) -> BareBooks:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                """
                SELECT (SELECT count(*) FROM bare_sale WHERE account_id = ANY(%(ids)s)),
                       (SELECT coalesce(sum(amount), 0) FROM bare_sale
                         WHERE account_id = ANY(%(ids)s)),
                       (SELECT coalesce(sum(credit), 0) FROM bare_account
                         WHERE id = ANY(%(ids)s))
                """,
                {"ids": ids},
            ).fetchone()
        assert row is not None
        return cls(*(int(v) for v in row))


@dataclass
class BareSaleFlow:
    """Sell ``SALE_AMOUNT_MINOR`` on one of ``accounts`` per call; ``attempts`` caps them."""

    accounts: list[int]
    attempts: int | None = None
    sold: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    async def __call__(self, client: Client) -> None:
        if self.attempts is not None:
            if self.attempts <= 0:
                raise StopFlow()
            self.attempts -= 1
        account = self.accounts[self.rng.randrange(len(self.accounts))]
        status, body = await client.call(
            "POST",
            f"/sale/{account}/",
            json_body={"amount": SALE_AMOUNT_MINOR, "phone": self.rng.choice(PHONE_NUMBERS)},
            tag="sale",
        )
        if status == 201 and isinstance(body, dict):
            self.sold += int(body["amount"])


def _check(name: str, ok: bool, detail: str = "") -> dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail}


def _load(result: Result, tag: str) -> dict[str, Any]:
    """What every bare figure carries: clients, errors, latency."""
    return {
        "clients": int(result.concurrency),
        "requests": len(result.select(tag)),
        "latency_ms": {k: round(v, 2) for k, v in result.latency_ms(tag).items()},
        "errors": result.server_errors(),
    }


def books_checks(before: BareBooks, after: BareBooks, result: Result, sold: int) -> list[dict]:
    created = result.statuses("sale").get(201, 0)
    rows = after.sales - before.sales
    moved = after.sales_amount - before.sales_amount
    return [
        _check("sale rows == 201 answers", rows == created, f"{rows} rows, {created} answers"),
        _check("sold amount == amounts answered 201", moved == sold, f"{moved} vs {sold}"),
        _check(
            "credit change == -sales",
            after.credit - before.credit == -moved,
            f"credit {after.credit - before.credit:+}, sales {-moved:+}",
        ),
    ]


def sale_hot(base_url: str, plan: Plan, database_url: str) -> dict[str, Any]:
    n = plan.hot_sales
    accounts_seed(database_url, [_HOT_ACCOUNT], credit=n * SALE_AMOUNT_MINOR)
    before = BareBooks.read(database_url, [_HOT_ACCOUNT])
    flow = BareSaleFlow([_HOT_ACCOUNT], attempts=2 * n)
    result = asyncio.run(run_closed(base_url, flow, clients=plan.clients))
    after = BareBooks.read(database_url, [_HOT_ACCOUNT])
    statuses = result.statuses("sale")
    created = [s for s in result.select("sale") if s.status == 201]
    last_sale = max((s.started + s.latency for s in created), default=result.elapsed)
    return {
        "sales": statuses.get(201, 0),
        "refused_insufficient_funds": statuses.get(422, 0),
        "sales_per_s": round(len(created) / last_sale, 1) if last_sale else 0.0,
        "attempts_per_s": round(result.throughput("sale"), 1),
        "accounts": 1,
        **_load(result, "sale"),
        "checks": [
            _check("exactly N sales succeed", statuses.get(201, 0) == n, f"{statuses.get(201, 0)}"),
            _check("the other N are 422", statuses.get(422, 0) == n, f"{statuses.get(422, 0)}"),
            _check("credit ends at 0", after.credit == 0, f"{after.credit}"),
            *books_checks(before, after, result, flow.sold),
        ],
    }


def _spread_ids() -> list[int]:
    return list(range(_SPREAD_FIRST, _SPREAD_FIRST + SPREAD_ACCOUNTS))


def sale_spread(base_url: str, plan: Plan, database_url: str) -> dict[str, Any]:
    ids = _spread_ids()
    before = BareBooks.read(database_url, ids)
    flow = BareSaleFlow(ids)
    result = asyncio.run(run_closed(base_url, flow, clients=plan.clients, duration=plan.duration))
    after = BareBooks.read(database_url, ids)
    created = result.statuses("sale").get(201, 0)
    return {
        "sales": created,
        "sales_per_s": round(result.throughput("sale", 201), 1),
        "accounts": len(ids),
        **_load(result, "sale"),
        "checks": [
            _check("every sale succeeded", created == len(result.samples), f"{created}"),
            *books_checks(before, after, result, flow.sold),
        ],
    }


def sale_single(base_url: str, plan: Plan, database_url: str) -> dict[str, Any]:
    """Sales at the fixed rate Tally's single-sale latency is measured at (open loop)."""
    from bench.scenarios import SINGLE_SALE_RATE

    ids = _spread_ids()
    before = BareBooks.read(database_url, ids)
    flow = BareSaleFlow(ids)
    result = asyncio.run(
        run_open(base_url, flow, rate=SINGLE_SALE_RATE, duration=plan.latency_duration)
    )
    after = BareBooks.read(database_url, ids)
    created = result.statuses("sale").get(201, 0)
    return {
        "rate": SINGLE_SALE_RATE,
        "sales": created,
        "accounts": len(ids),
        **_load(result, "sale"),
        "checks": [
            _check("every sale succeeded", created == len(result.samples), f"{created}"),
            *books_checks(before, after, result, flow.sold),
        ],
    }


def _get_only(
    base_url: str, plan: Plan, tag: str, path: Callable[[random.Random], str]
) -> dict[str, Any]:
    rng = random.Random(7)

    async def flow(client: Client) -> None:
        await client.call("GET", path(rng), tag=tag)

    result = asyncio.run(run_closed(base_url, flow, clients=plan.clients, duration=plan.duration))
    ok = result.statuses(tag).get(200, 0)
    return {
        "requests_per_s": round(result.throughput(tag, 200), 1),
        **_load(result, tag),
        "checks": [_check("every answer 200", ok == len(result.samples), f"{ok}")],
    }


def read(base_url: str, plan: Plan, database_url: str) -> dict[str, Any]:
    ids = _spread_ids()
    return _get_only(base_url, plan, "balance", lambda rng: f"/balance/{rng.choice(ids)}/")


def ping(base_url: str, plan: Plan, database_url: str) -> dict[str, Any]:
    return _get_only(base_url, plan, "ping", lambda rng: "/ping/")


def warm_up(base_url: str, plan: Plan, database_url: str) -> dict[str, Any]:
    """Unmeasured sales and reads, so every worker has imported and connected first."""
    flow = BareSaleFlow([_WARM_UP_ACCOUNT])

    async def mixed(client: Client) -> None:
        await flow(client)
        await client.call("GET", f"/balance/{_WARM_UP_ACCOUNT}/", tag="balance")

    result = asyncio.run(
        run_closed(base_url, mixed, clients=plan.clients, duration=1.0 if plan.quick else 5.0)
    )
    return {"requests": len(result.samples), "errors": result.server_errors()}


MEASURES: dict[str, Callable[[str, Plan, str], dict[str, Any]]] = {
    "bare_sale_hot": sale_hot,
    "bare_sale_spread": sale_spread,
    "bare_sale_single": sale_single,
    "bare_read": read,
    "bare_ping": ping,
}


def prepare(base_url: str, plan: Plan, database_url: str) -> dict[str, Any]:
    """Seed the warm-up and spread accounts, then warm the bare app up (unmeasured)."""
    accounts_seed(database_url, [_WARM_UP_ACCOUNT], credit=_AMPLE_CREDIT)
    accounts_seed(database_url, _spread_ids(), credit=_AMPLE_CREDIT)
    return warm_up(base_url, plan, database_url)
