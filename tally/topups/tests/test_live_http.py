"""Charge sales through a real gunicorn with several workers, hit by several processes and
threads at once: the database referees every race, and every answer is a clean one."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from tally.credit.testing import vendor_fund, vendor_prepaid_balance
from tally.identity.models import User, VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.ledger.models import Transfer
from tally.ledger.testing import assert_ledger_verifies
from tally.platform.testing.live_server import live_server_run
from tally.platform.testing.race import run_concurrently
from tally.topups.models import ChargeSale
from tally.topups.tests.helpers import row_counts, settlement_balance
from tally.topups.tests.http_clients import post_json_many

pytestmark = pytest.mark.django_db(transaction=True)

SALES = 40  # the vendor's credit covers exactly this many 1.00 sales
CLIENT_PROCESSES = 4
REPLAYS = 50


@pytest.fixture(scope="module")
def base_url(django_db_setup: None) -> Iterator[str]:
    """One gunicorn (3 sync workers) for the module, serving the test database."""
    with live_server_run(web_workers=3) as url:
        yield url


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def charges_url(base_url: str, vendor: VendorProfile) -> str:
    return f"{base_url}/api/v1/vendors/{vendor.user_id}/charges/"


def test_twice_as_many_attempts_as_credit_from_several_processes_sell_exactly_n(
    base_url: str,
) -> None:
    # given: credit for exactly SALES sales of 1.00
    vendor = VendorFactory()
    vendor_fund(vendor, SALES * 1_00)
    attempts = 2 * SALES
    per_process = attempts // CLIENT_PROCESSES
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(CLIENT_PROCESSES)
    results: Any = context.Queue()
    processes = [
        context.Process(
            target=post_json_many,
            kwargs={
                "barrier": barrier,
                "results": results,
                "url": charges_url(base_url, vendor),
                "headers": bearer(vendor.user),
                "bodies": [
                    {"phone_number": f"+1415555{index:04d}", "amount": "1.00"}
                    for index in range(process * per_process, (process + 1) * per_process)
                ],
            },
        )
        for process in range(CLIENT_PROCESSES)
    ]
    # when
    for process in processes:
        process.start()
    outcomes = [outcome for _ in processes for outcome in results.get(timeout=120)]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    # then: every answer is a sale or a clean refusal, never a server error
    assert len(outcomes) == attempts
    statuses = Counter(
        (status, body.get("code") if status != 201 else None) for status, body in outcomes
    )
    assert statuses == {(201, None): SALES, (422, "insufficient_funds"): SALES}
    # each sale saw its own balance: the remaining credits are exactly 39.00 … 0.00
    remaining = sorted(body["remaining_credit"] for status, body in outcomes if status == 201)
    assert remaining == sorted(f"{left}.00" for left in range(SALES))
    # and the books agree
    assert ChargeSale.objects.filter(vendor=vendor).count() == SALES
    assert vendor_prepaid_balance(vendor) == 0
    assert settlement_balance() == SALES * 1_00
    assert_ledger_verifies()


def test_one_idempotency_key_replayed_concurrently_sells_once(base_url: str) -> None:
    # given
    vendor = VendorFactory()
    vendor_fund(vendor, 100_00)
    url = charges_url(base_url, vendor)
    headers = {**bearer(vendor.user), "Idempotency-Key": "till-7-sale-1"}
    sale = {"phone_number": "+14155550123", "amount": "12.50"}
    in_progress_answers = Counter[str]()
    lock = threading.Lock()

    def replay() -> tuple[int, Any, str | None]:
        with httpx.Client(headers=headers, timeout=60) as client:
            while True:
                response = client.post(url, json=sale)
                if response.status_code != 409:
                    return (
                        response.status_code,
                        response.json(),
                        response.headers.get("Idempotent-Replayed"),
                    )
                # still in flight elsewhere: retry when told to
                assert response.json()["code"] == "idempotency_in_progress"
                with lock:
                    in_progress_answers[response.headers["Retry-After"]] += 1
                time.sleep(float(response.headers["Retry-After"]))

    # when
    outcomes = run_concurrently(replay, times=REPLAYS)
    assert [outcome.error for outcome in outcomes] == [None] * REPLAYS
    answers = [outcome.value for outcome in outcomes if outcome.value is not None]
    # then: one sale; every caller got the same 201 body; all but one are replays
    assert ChargeSale.objects.filter(vendor=vendor).count() == 1
    created = ChargeSale.objects.get(vendor=vendor)
    assert {status for status, _, _ in answers} == {201}
    bodies = {tuple(sorted(body.items())) for _, body, _ in answers}
    assert len(bodies) == 1
    body = answers[0][1]
    assert (body["id"], body["amount"], body["remaining_credit"]) == (
        str(created.id),
        "12.50",
        "87.50",
    )
    assert sum(1 for _, _, replayed in answers if replayed == "true") == REPLAYS - 1
    assert set(in_progress_answers) <= {"1"}
    assert vendor_prepaid_balance(vendor) == 87_50

    # when: the same key with a different body
    before = row_counts()
    transfers = Transfer.objects.count()
    response = httpx.post(url, json={**sale, "amount": "12.51"}, headers=headers, timeout=30)
    # then: refused, and nothing changed
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert row_counts() == before
    assert Transfer.objects.count() == transfers
    assert vendor_prepaid_balance(vendor) == 87_50
    assert_ledger_verifies()
