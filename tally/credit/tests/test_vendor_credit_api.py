"""Direct admin credit, balances and histories."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.credit.testing import vendor_prepaid_balance
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.ledger.verification import ledger_verify
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_admin_increases_credit_synchronously_and_is_recorded(
    admin_client: APIClient, vendor: VendorProfile
) -> None:
    # when
    response = admin_client.post(
        f"/api/v1/vendors/{vendor.user_id}/credit/", {"amount": "500", "reason": "wire 42"}
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["balance"], body["pending"], body["available"], body["currency"]) == (
        "500.00",
        "0.00",
        "500.00",
        "USD",
    )
    event = AuditEvent.objects.get(action="vendor.credit_increased")
    assert event.changes["reason"] == [None, "wire 42"]
    assert event.actor_id is not None
    assert ledger_verify().ok


@pytest.mark.parametrize(
    "body", [{"amount": "5"}, {"amount": "-5", "reason": "x"}, {"reason": "x"}]
)
def test_credit_increase_needs_positive_amount_and_reason(
    admin_client: APIClient, vendor: VendorProfile, body: dict
) -> None:
    response = admin_client.post(f"/api/v1/vendors/{vendor.user_id}/credit/", body)
    assert response.status_code == 400
    assert vendor_prepaid_balance(vendor) == 0


def test_vendor_cannot_credit_itself(vendor_client: APIClient, vendor: VendorProfile) -> None:
    response = vendor_client.post(
        f"/api/v1/vendors/{vendor.user_id}/credit/", {"amount": "5", "reason": "x"}
    )
    assert response.status_code == 403
    assert vendor_prepaid_balance(vendor) == 0


def test_balance_and_statement_newest_first(
    admin_client: APIClient, vendor_client: APIClient, vendor: VendorProfile
) -> None:
    for amount in ("10.00", "20.00", "30.00"):
        admin_client.post(
            f"/api/v1/vendors/{vendor.user_id}/credit/", {"amount": amount, "reason": "test"}
        )
    balance = vendor_client.get(f"/api/v1/vendors/{vendor.user_id}/balance/").json()
    assert balance == {
        "balance": "60.00",
        "pending": "0.00",
        "available": "60.00",
        "currency": "USD",
    }
    page = vendor_client.get(f"/api/v1/vendors/{vendor.user_id}/transactions/?page_size=2").json()
    assert [(e["amount"], e["balance_after"]) for e in page["results"]] == [
        ("30.00", "60.00"),
        ("20.00", "30.00"),
    ]
    rest = vendor_client.get(page["next"]).json()
    assert [(e["amount"], e["balance_after"]) for e in rest["results"]] == [("10.00", "10.00")]
    assert rest["next"] is None


def test_balance_of_a_vendor_without_movements_is_zero(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    assert (
        vendor_client.get(f"/api/v1/vendors/{vendor.user_id}/balance/").json()["balance"] == "0.00"
    )


def test_admin_cross_vendor_credit_transactions_filter(admin_client: APIClient) -> None:
    first, second = VendorFactory(), VendorFactory()
    admin_client.post(f"/api/v1/vendors/{first.user_id}/credit/", {"amount": "1", "reason": "a"})
    admin_client.post(f"/api/v1/vendors/{second.user_id}/credit/", {"amount": "2", "reason": "b"})
    everything = admin_client.get("/api/v1/credit-transactions/").json()["results"]
    assert [e["vendor_id"] for e in everything] == [str(second.user_id), str(first.user_id)]
    only_first = admin_client.get(f"/api/v1/credit-transactions/?vendor={first.user_id}").json()[
        "results"
    ]
    assert [e["amount"] for e in only_first] == ["1.00"]
    assert admin_client.get("/api/v1/credit-transactions/?vendor=not-a-uuid").status_code == 400


@pytest.mark.parametrize(
    ("role", "own_status", "other_status"),
    [
        ("admin", 200, 200),
        ("vendor", 200, 404),
        ("customer", 403, 403),
        ("partner", 403, 403),
        ("anonymous", 401, 401),
    ],
)
@pytest.mark.parametrize("endpoint", ["balance", "transactions"])
def test_read_permissions(
    role: str, own_status: int, other_status: int, endpoint: str, request: Any
) -> None:
    client = APIClient() if role == "anonymous" else request.getfixturevalue(f"{role}_client")
    own = request.getfixturevalue("vendor")
    other = VendorFactory()
    if role == "vendor":
        assert client.get(f"/api/v1/vendors/{own.user_id}/{endpoint}/").status_code == own_status
    assert client.get(f"/api/v1/vendors/{other.user_id}/{endpoint}/").status_code == other_status
    assert client.get("/api/v1/credit-transactions/").status_code == (
        200 if role == "admin" else 401 if role == "anonymous" else 403
    )
