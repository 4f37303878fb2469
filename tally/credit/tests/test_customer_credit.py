"""Vendor → customer wallet credit: accepted at once, executed by the worker."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.credit.models import CustomerCreditOperation, OperationStatus
from tally.credit.testing import customer_wallet_balance, vendor_fund, vendor_prepaid_balance
from tally.identity.tests.factories import CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.verification import ledger_verify
from tally.platform.testing.race import wait_until


def wait_done(client: APIClient, location: str) -> dict:
    def finished() -> dict | None:
        body = client.get(location).json()
        return None if body["status"] == "pending" else body

    return wait_until(finished, message="operation stayed pending")


def test_vendor_credits_a_customer_wallet(celery_worker: Any) -> None:
    # given
    vendor, customer = VendorFactory(), CustomerFactory()
    vendor_fund(vendor, 10000)
    client = authenticate(APIClient(), vendor.user)
    # when
    response = client.post(f"/api/v1/customers/{customer.user_id}/credit/", {"amount": "40.00"})
    # then
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "pending"
    assert response["Location"] == f"/api/v1/operations/{accepted['id']}/"
    done = wait_done(client, response["Location"])
    operation = CustomerCreditOperation.objects.get()
    assert done == {
        "id": str(operation.pk),
        "kind": "customer_credit",
        "status": "succeeded",
        "vendor_id": str(vendor.user_id),
        "customer_id": str(customer.user_id),
        "amount": "40.00",
        "failure_code": "",
        "failure_detail": "",
        "transfer_id": str(operation.transfer_id),
        "created_at": done["created_at"],
        "completed_at": done["completed_at"],
        "links": {"self": f"/api/v1/operations/{operation.pk}/"},
    }
    assert done["completed_at"] is not None
    assert {key: value for key, value in accepted.items() if key not in ("status",)} == {
        **{key: value for key, value in done.items() if key != "status"},
        "transfer_id": None,
        "completed_at": None,
    }
    assert customer_wallet_balance(customer) == 4000
    assert vendor_prepaid_balance(vendor) == 6000
    assert ledger_verify().ok


def test_insufficient_credit_fails_the_operation_with_its_reason(celery_worker: Any) -> None:
    vendor, customer = VendorFactory(), CustomerFactory()
    vendor_fund(vendor, 100)
    client = authenticate(APIClient(), vendor.user)
    response = client.post(f"/api/v1/customers/{customer.user_id}/credit/", {"amount": "2.00"})
    done = wait_done(client, response["Location"])
    assert (done["status"], done["failure_code"]) == ("failed", "insufficient_funds")
    assert customer_wallet_balance(customer) == 0
    assert CustomerCreditOperation.objects.get().status == OperationStatus.FAILED
    assert ledger_verify().ok


@pytest.mark.django_db
def test_operation_is_visible_to_its_vendor_and_admins_only(
    vendor_client: APIClient, admin_client: APIClient, vendor: Any
) -> None:
    customer = CustomerFactory()
    response = vendor_client.post(f"/api/v1/customers/{customer.user_id}/credit/", {"amount": "1"})
    location = response["Location"]
    assert vendor_client.get(location).status_code == 200
    assert admin_client.get(location).status_code == 200
    other = authenticate(APIClient(), VendorFactory().user)
    assert other.get(location).status_code == 404
    assert authenticate(APIClient(), customer.user).get(location).status_code == 404


@pytest.mark.django_db
def test_customer_credit_refusals(
    vendor_client: APIClient, customer_client: APIClient, inactive_vendor: Any
) -> None:
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.user_id}/credit/"
    assert (
        vendor_client.post(
            "/api/v1/customers/00000000-0000-0000-0000-000000000000/credit/", {"amount": "1"}
        ).status_code
        == 404
    )
    assert vendor_client.post(url, {"amount": "0"}).status_code == 400
    assert customer_client.post(url, {"amount": "1"}).status_code == 403
    inactive = authenticate(APIClient(), inactive_vendor.user).post(url, {"amount": "1"})
    assert (inactive.status_code, inactive.json()["code"]) == (422, "vendor_inactive")
    assert APIClient().post(url, {"amount": "1"}).status_code == 401
    assert not CustomerCreditOperation.objects.exists()


@pytest.mark.django_db
def test_vendors_create_and_look_up_customers(
    vendor_client: APIClient, vendor: Any, customer_client: APIClient
) -> None:
    created = vendor_client.post(
        "/api/v1/customers/", {"email": "c@example.com", "phone": "+14155550142"}
    )
    assert created.status_code == 201
    mine = vendor_client.get("/api/v1/customers/").json()["results"]
    assert [c["phone"] for c in mine] == ["+14155550142"]
    self_registered = CustomerFactory(phone="+14155550143")
    found = vendor_client.get("/api/v1/customers/?phone=(415) 555-0143").json()["results"]
    assert [c["id"] for c in found] == [str(self_registered.user_id)]
    assert vendor_client.get("/api/v1/customers/?phone=12").status_code == 400
    assert customer_client.get("/api/v1/customers/").status_code == 403
    duplicate = vendor_client.post(
        "/api/v1/customers/", {"email": "d@example.com", "phone": "+14155550142"}
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "phone_taken")
