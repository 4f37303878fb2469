"""``GET account/balance/`` and ``account/transactions/`` (+ detail): the customer's own
wallet only, in the ledger's shapes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.identity.tests.factories import CustomerFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.models import Entry
from tally.offers.services import activation_create
from tally.offers.testing import customer_fund, customer_wallet, offer_make
from tally.platform.money import from_minor

pytestmark = pytest.mark.django_db

BALANCE = "/api/v1/account/balance/"
TRANSACTIONS = "/api/v1/account/transactions/"


def entry_body(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "transfer_id": str(entry.transfer_id),
        "code": entry.transfer.code,
        "amount": from_minor(entry.amount),
        "balance_after": None if entry.balance_after is None else from_minor(entry.balance_after),
        "reference": entry.transfer.reference,
        "created_at": entry.created_at.isoformat().replace("+00:00", "Z"),
    }


def test_a_customer_sees_its_wallet_with_a_purchase_reserved() -> None:
    # given
    customer = CustomerFactory()
    client = authenticate(APIClient(), customer.user)
    customer_fund(customer, 2000)
    activation_create(customer=customer, offer=offer_make(price=500))
    customer_fund(CustomerFactory(), 9900)  # someone else's money
    # when
    response = client.get(BALANCE)
    # then
    assert response.status_code == 200
    assert response.json() == {
        "balance": "20.00",
        "pending": "5.00",
        "available": "15.00",
        "currency": "USD",
    }


def test_a_customer_without_a_wallet_has_zero() -> None:
    client = authenticate(APIClient(), CustomerFactory().user)
    assert client.get(BALANCE).json() == {
        "balance": "0.00",
        "pending": "0.00",
        "available": "0.00",
        "currency": "USD",
    }


def test_a_customer_pages_through_its_own_statement_newest_first() -> None:
    # given
    customer = CustomerFactory()
    client = authenticate(APIClient(), customer.user)
    for amount in (1000, 2000, 3000):
        customer_fund(customer, amount)
    customer_fund(CustomerFactory(), 700)
    own = list(Entry.objects.filter(account=customer_wallet(customer)).order_by("-id"))
    # when
    first = client.get(f"{TRANSACTIONS}?page_size=2").json()
    rest = client.get(first["next"]).json()
    # then
    assert first["results"] == [entry_body(own[0]), entry_body(own[1])]
    assert [(e["amount"], e["balance_after"]) for e in first["results"]] == [
        ("30.00", "60.00"),
        ("20.00", "30.00"),
    ]
    assert rest["results"] == [entry_body(own[2])]
    assert rest["next"] is None


def test_a_customer_reads_one_of_its_transactions_but_not_anothers() -> None:
    # given
    customer = CustomerFactory()
    client = authenticate(APIClient(), customer.user)
    customer_fund(customer, 1000)
    other = CustomerFactory()
    customer_fund(other, 700)
    own_entry = Entry.objects.get(account=customer_wallet(customer))
    other_entry = Entry.objects.get(account=customer_wallet(other))
    # when
    mine = client.get(f"{TRANSACTIONS}{own_entry.pk}/")
    theirs = client.get(f"{TRANSACTIONS}{other_entry.pk}/")
    system_side = Entry.objects.exclude(account__owner__isnull=False).first()
    assert system_side is not None
    issuance = client.get(f"{TRANSACTIONS}{system_side.pk}/")
    # then
    assert (mine.status_code, mine.json()) == (200, entry_body(own_entry))
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
    assert (issuance.status_code, issuance.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("admin", 403, "permission_denied"),
        ("vendor", 403, "permission_denied"),
        ("partner", 403, "permission_denied"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_only_customers_have_an_account(role: str, expected: int, code: str, request: Any) -> None:
    # given
    customer = CustomerFactory()
    customer_fund(customer, 1000)
    entry = Entry.objects.get(account=customer_wallet(customer))
    client = APIClient() if role == "anonymous" else request.getfixturevalue(f"{role}_client")
    # when
    responses = [
        client.get(BALANCE),
        client.get(TRANSACTIONS),
        client.get(f"{TRANSACTIONS}{entry.pk}/"),
    ]
    # then
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(expected, code)] * 3
