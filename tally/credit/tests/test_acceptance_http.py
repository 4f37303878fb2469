"""Seed 000's acceptance run, end to end over HTTP against a live gunicorn and Celery worker:
2 vendors, 10 approved credit requests each, 1,000 charge sales spread between them; then
each vendor's balance = credits - sales = the sum of its statement, and the ledger verifies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from tally.identity.models import User
from tally.identity.tests.factories import AdminFactory, VendorFactory
from tally.ledger.verification import ledger_verify
from tally.platform.money import from_minor
from tally.platform.testing.live_server import live_server_run
from tally.platform.testing.race import wait_until
from tally.topups.models import ChargeSale

REQUESTS_PER_VENDOR = 10
SALES = 1000


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def all_pages(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page = client.get(next_url, params={"page_size": 200} if next_url == url else None).json()
        items += page["results"]
        next_url = page["next"]
    return items


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_seed_acceptance_run_over_http() -> None:
    # given
    admin_user = AdminFactory()
    vendors = [VendorFactory(), VendorFactory()]
    with live_server_run(web_workers=3, celery_worker=True) as base:
        api = f"{base}/api/v1"
        admin = httpx.Client(headers=bearer(admin_user), timeout=30)
        clients = {v.user_id: httpx.Client(headers=bearer(v.user), timeout=30) for v in vendors}

        # when: each vendor asks for credit 10 times; an admin approves each request
        credited = {v.user_id: 0 for v in vendors}
        request_ids = []
        for vendor in vendors:
            for index in range(REQUESTS_PER_VENDOR):
                amount = Decimal(100 + 10 * index)
                response = clients[vendor.user_id].post(
                    f"{api}/credit-requests/", json={"amount": str(amount), "note": f"#{index}"}
                )
                assert response.status_code == 201, response.text
                credited[vendor.user_id] += int(amount * 100)
                request_ids.append(response.json()["id"])
        for request_id in request_ids:
            response = admin.post(f"{api}/credit-requests/{request_id}/approve/")
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "accepted"
        pending = set(request_ids)

        def all_approved() -> bool:
            pending.difference_update(
                r
                for r in list(pending)
                if admin.get(f"{api}/credit-requests/{r}/").json()["status"] == "approved"
            )
            return not pending

        wait_until(all_approved, timeout_seconds=60, message="requests never got approved")

        # and: 1,000 charge sales spread between them, 8 at a time
        def sell(index: int) -> tuple[Any, int, int]:
            vendor = vendors[index % 2]
            amount_minor = 100 + (index % 7) * 25
            response = clients[vendor.user_id].post(
                f"{api}/vendors/{vendor.user_id}/charges/",
                json={
                    "phone_number": f"+1415555{index % 100:04d}",
                    "amount": from_minor(amount_minor),
                },
            )
            return vendor.user_id, amount_minor, response.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(sell, range(SALES)))

        # then
        assert {status for _, _, status in outcomes} == {201}
        sold = {v.user_id: sum(a for vid, a, _ in outcomes if vid == v.user_id) for v in vendors}
        for vendor in vendors:
            client = clients[vendor.user_id]
            balance = client.get(f"{api}/vendors/{vendor.user_id}/balance/").json()
            expected = credited[vendor.user_id] - sold[vendor.user_id]
            assert Decimal(balance["balance"]) * 100 == expected
            statement = all_pages(client, f"{api}/vendors/{vendor.user_id}/transactions/")
            assert len(statement) == REQUESTS_PER_VENDOR + SALES // 2
            assert sum(Decimal(entry["amount"]) * 100 for entry in statement) == expected
            assert Decimal(statement[0]["balance_after"]) * 100 == expected
        assert ChargeSale.objects.count() == SALES
        assert ledger_verify().ok
