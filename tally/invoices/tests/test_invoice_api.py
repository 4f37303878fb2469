"""GET orders/{id}/invoice/: who gets the PDF, and the answers while there is none."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.invoices.models import Invoice
from tally.invoices.services import ISSUE_TASK, invoice_issue
from tally.invoices.tests.helpers import invoice_rendered, response_bytes, two_vendor_order
from tally.offers.testing import customer_fund
from tally.orders.models import OrderItem
from tally.platform.outbox.models import OutboxMessage

CARD_OK = "4242424242424242"


def _url(order: Any) -> str:
    return f"/api/v1/orders/{order.pk}/invoice/"


@pytest.mark.django_db(transaction=True)
def test_the_buyer_and_admins_get_the_pdf_vendors_are_refused_and_others_see_nothing(
    celery_worker: Any,
) -> None:
    # given: a customer's paid order and a guest's paid order, both invoiced
    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    owned = two_vendor_order(customer).order
    owner = authenticate(APIClient(), customer.user)
    assert (
        owner.post(
            f"/api/v1/orders/{owned.pk}/process-payment/", {"method": "wallet"}, format="json"
        ).status_code
        == 201
    )
    guest_placed = two_vendor_order()
    guest_order = guest_placed.order
    token = guest_placed.access_token
    assert (
        APIClient()
        .post(
            f"/api/v1/orders/{guest_order.pk}/process-payment/",
            {"method": "credit_card", "card_number": CARD_OK},
            format="json",
            HTTP_ORDER_TOKEN=token,
        )
        .status_code
        == 202
    )
    invoice_rendered(owned)
    invoice_rendered(guest_order)
    admin = authenticate(APIClient(), AdminFactory())
    stranger = authenticate(APIClient(), CustomerFactory().user)
    line_vendor = OrderItem.objects.filter(order=owned).select_related("vendor")[0].vendor
    vendor = authenticate(APIClient(), line_vendor.user)
    other_vendor = authenticate(APIClient(), VendorFactory().user)

    def status_of(client: APIClient, order: Any, **extra: Any) -> tuple[int, str | None]:
        response = client.get(_url(order), **extra)
        if response.status_code == 200:
            assert response["Content-Type"] == "application/pdf"
            assert response_bytes(response).startswith(b"%PDF-")
            return 200, None
        assert response["Content-Type"] == "application/problem+json"
        return response.status_code, response.json()["code"]

    # then
    assert status_of(owner, owned) == (200, None)
    assert status_of(admin, owned) == (200, None)
    assert status_of(admin, guest_order) == (200, None)
    assert status_of(APIClient(), guest_order, HTTP_ORDER_TOKEN=token) == (200, None)
    # a client asking for a PDF gets its errors as problem details all the same
    assert status_of(APIClient(), guest_order, HTTP_ACCEPT="application/pdf") == (
        404,
        "not_found",
    )
    assert status_of(APIClient(), guest_order, HTTP_ORDER_TOKEN="wrong-token") == (
        404,
        "not_found",
    )
    assert status_of(APIClient(), owned) == (404, "not_found")
    assert status_of(stranger, owned) == (404, "not_found")
    assert status_of(stranger, guest_order) == (404, "not_found")
    assert status_of(owner, guest_order) == (404, "not_found")
    assert status_of(vendor, owned) == (403, "permission_denied")
    assert status_of(other_vendor, owned) == (404, "not_found")
    # the token of one order opens no other
    assert status_of(APIClient(), owned, HTTP_ORDER_TOKEN=token) == (404, "not_found")
    assert Invoice.objects.count() == 2


@pytest.mark.django_db
def test_no_invoice_before_payment_and_while_it_is_prepared() -> None:
    # given: an unpaid order
    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    order = two_vendor_order(customer).order
    client = authenticate(APIClient(), customer.user)
    # when / then: not paid
    unpaid = client.get(_url(order))
    assert (unpaid.status_code, unpaid.json()["code"]) == (404, "invoice_not_ready")
    assert unpaid.json()["order_status"] == "pending"
    assert "not paid" in unpaid.json()["detail"]
    # when: paid (no worker runs here, so the invoice job waits in the outbox)
    paid = client.post(f"/api/v1/orders/{order.pk}/process-payment/", {"method": "wallet"})
    assert paid.status_code == 201
    [job] = OutboxMessage.objects.filter(task_name=ISSUE_TASK)
    assert job.payload == {"payment_id": paid.json()["id"]}
    # then: being prepared, before and after it is numbered
    queued = client.get(_url(order))
    assert (queued.status_code, queued.json()["code"]) == (404, "invoice_not_ready")
    assert queued.json()["order_status"] == "confirmed"
    assert "being prepared" in queued.json()["detail"]
    invoice_issue(payment_id=paid.json()["id"])
    issued = client.get(_url(order))
    assert (issued.status_code, issued.json()["code"]) == (404, "invoice_not_ready")


@pytest.mark.django_db
def test_a_refused_payment_queues_no_invoice() -> None:
    # given: a wallet too small for the order
    customer = CustomerFactory()
    customer_fund(customer, 1_00)
    order = two_vendor_order(customer).order
    client = authenticate(APIClient(), customer.user)
    # when
    refused = client.post(f"/api/v1/orders/{order.pk}/process-payment/", {"method": "wallet"})
    # then
    assert refused.status_code == 422
    assert not OutboxMessage.objects.filter(task_name=ISSUE_TASK).exists()
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_an_unknown_order_is_not_found() -> None:
    response = authenticate(APIClient(), AdminFactory()).get(
        "/api/v1/orders/00000000-0000-0000-0000-000000000000/invoice/"
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
