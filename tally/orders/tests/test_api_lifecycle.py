"""``POST orders/{id}/cancel/`` and ``…/complete/`` over HTTP: stock given back once, the
states that refuse, and optimistic locking with ETag / If-Match."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from rest_framework.test import APIClient

from tally.catalog.models import Variant
from tally.catalog.testing import service_make, variant_make
from tally.identity.models import CustomerProfile, VendorProfile
from tally.identity.tests.factories import CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.notifications.models import Notification
from tally.orders.models import Order
from tally.orders.testing import (
    order_confirm_for_test,
    order_expected_body,
    order_place_body,
    order_place_for_test,
)
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"


def cancel_url(order: Order) -> str:
    return f"{URL}{order.pk}/cancel/"


def complete_url(order: Order) -> str:
    return f"{URL}{order.pk}/complete/"


def snapshot(order: Order, variant: Variant) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    order.refresh_from_db()
    variant.refresh_from_db()
    return {
        "status": order.status,
        "version": order.version,
        "updated_at": order.updated_at,
        "stock": variant.stock,
        "audit": AuditEvent.objects.filter(target_id=str(order.pk)).count(),
        "notifications": Notification.objects.count(),
    }


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.json()
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def a_customer_order(quantity: int = 2) -> tuple[APIClient, Order, Variant]:
    """A customer's pending order of ``quantity`` of a variant that had 5 units."""
    customer = cast(CustomerProfile, CustomerFactory())
    variant = variant_make(price=15_00, stock=5)
    order = order_place_for_test(customer=customer, lines=[(variant, quantity)]).order
    return authenticate(APIClient(), customer.user), order, variant


# --- cancel ---------------------------------------------------------------------------------


def test_a_guest_cancels_its_pending_order_over_http_and_the_stock_comes_back_once(
    api_client: APIClient,
) -> None:
    # given: a guest's order of 2 of 5 units
    variant = variant_make(price=15_00, stock=5)
    placed = api_client.post(URL, order_place_body([(variant, 2)]), format="json").json()
    order = Order.objects.get(pk=placed["id"])
    token = placed["access_token"]
    variant.refresh_from_db()
    assert variant.stock == 3
    # when
    response = api_client.post(
        cancel_url(order), {"reason": "Ordered twice"}, HTTP_ORDER_TOKEN=token
    )
    # then: cancelled by the buyer's request, version 2, the 2 units back
    assert response.status_code == 200, response.json()
    assert response.json() == order_expected_body(order)
    assert (response.json()["status"], response.json()["status_reason"]) == (
        "cancelled",
        "customer_request",
    )
    assert response["ETag"] == '"2"'
    variant.refresh_from_db()
    assert variant.stock == 5
    assert AuditEvent.objects.filter(action="order.cancelled", target_id=str(order.pk)).count() == 1
    assert Notification.objects.filter(kind="order_cancelled").count() == 1
    before = snapshot(order, variant)

    # when: cancelled again (a retry, a double click)
    again = api_client.post(cancel_url(order), {}, format="json", HTTP_ORDER_TOKEN=token)
    # then: the cancelled order again, nothing released twice, nothing written
    assert again.status_code == 200
    assert again.json() == response.json()
    assert again["ETag"] == '"2"'
    assert snapshot(order, variant) == before
    # and a read shows the same version
    read = api_client.get(f"{URL}{order.pk}/", {"token": token})
    assert (read.json()["status"], read["ETag"]) == ("cancelled", '"2"')


def test_an_admin_cancels_an_order_for_the_admin_reason(admin_client: APIClient) -> None:
    _, order, variant = a_customer_order()
    response = admin_client.post(cancel_url(order))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_reason"]) == ("cancelled", "admin")
    variant.refresh_from_db()
    assert variant.stock == 5


def test_a_paid_order_cannot_be_cancelled() -> None:
    # given
    client, order, variant = a_customer_order()
    order_confirm_for_test(order)
    before = snapshot(order, variant)
    # when
    response = client.post(cancel_url(order))
    # then: paid orders are refunded, not cancelled
    body = assert_problem(response, 409, "invalid_state")
    assert body["current_status"] == "confirmed"
    assert snapshot(order, variant) == before


def test_a_cancel_reason_longer_than_500_characters_is_a_400() -> None:
    client, order, variant = a_customer_order()
    before = snapshot(order, variant)
    response = client.post(cancel_url(order), {"reason": "x" * 501}, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["reason"]
    assert snapshot(order, variant) == before


def test_an_idempotent_cancel_replays_its_answer() -> None:
    # given
    client, order, variant = a_customer_order()
    key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
    # when
    first = client.post(cancel_url(order), {}, format="json", **key)
    again = client.post(cancel_url(order), {}, format="json", **key)
    # then
    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"] == '"2"'
    variant.refresh_from_db()
    assert variant.stock == 5


# --- complete -------------------------------------------------------------------------------


def test_completing_a_pending_order_is_a_conflict_that_changes_nothing(
    admin_client: APIClient,
) -> None:
    # given
    _, order, variant = a_customer_order()
    before = snapshot(order, variant)
    # when
    response = admin_client.post(complete_url(order))
    # then
    body = assert_problem(response, 409, "invalid_state")
    assert (body["current_status"], body["target_status"]) == ("pending", "completed")
    assert snapshot(order, variant) == before
    assert before["version"] == 1


def test_the_vendor_of_every_line_completes_a_paid_order_once() -> None:
    # given
    vendor = cast(VendorProfile, VendorFactory())
    variant = variant_make(service=service_make(vendor=vendor), stock=5)
    order = order_place_for_test(lines=[(variant, 1)]).order
    order_confirm_for_test(order)
    client = authenticate(APIClient(), vendor.user)
    # when
    done = client.post(complete_url(order))
    again = client.post(complete_url(order))
    # then: completed at version 3 (placed 1, paid 2, completed 3); a repeat changes nothing
    assert done.status_code == 200, done.json()
    assert done.json() == order_expected_body(order, vendor=vendor)
    assert (done.json()["status"], done["ETag"]) == ("completed", '"3"')
    assert (again.status_code, again["ETag"], again.json()) == (200, '"3"', done.json())
    assert AuditEvent.objects.filter(action="order.completed", target_id=str(order.pk)).count() == 1


# --- ETag / If-Match ------------------------------------------------------------------------


def test_a_stale_if_match_is_a_conflict_and_changes_nothing() -> None:
    # given: the caller read version 1; someone changed the order since (version 2)
    client, order, variant = a_customer_order()
    Order.objects.filter(pk=order.pk).update(version=2)
    before = snapshot(order, variant)
    # when
    cancel = client.post(cancel_url(order), HTTP_IF_MATCH='"1"')
    # then
    body = assert_problem(cancel, 409, "conflict")
    assert body["current_status"] == "pending"
    assert snapshot(order, variant) == before


def test_a_current_if_match_goes_through_and_the_etag_moves_on(admin_client: APIClient) -> None:
    # given
    client, order, variant = a_customer_order()
    read = client.get(f"{URL}{order.pk}/")
    assert read["ETag"] == '"1"'
    # when: cancel on the version just read
    cancel = client.post(cancel_url(order), HTTP_IF_MATCH=read["ETag"])
    # then
    assert cancel.status_code == 200
    assert (cancel.json()["version"], cancel["ETag"]) == (2, '"2"')
    variant.refresh_from_db()
    assert variant.stock == 5
    assert client.get(f"{URL}{order.pk}/")["ETag"] == '"2"'

    # given: another order, paid (version 2)
    _, paid, _ = a_customer_order()
    order_confirm_for_test(paid)
    # when: completed with a stale, then the current version
    stale = admin_client.post(complete_url(paid), HTTP_IF_MATCH='"1"')
    current = admin_client.post(complete_url(paid), HTTP_IF_MATCH='"2"')
    # then
    assert_problem(stale, 409, "conflict")
    assert (current.status_code, current["ETag"]) == (200, '"3"')


def test_if_match_any_version_goes_through() -> None:
    client, order, _ = a_customer_order()
    Order.objects.filter(pk=order.pk).update(version=7)
    response = client.post(cancel_url(order), HTTP_IF_MATCH="*")
    assert (response.status_code, response["ETag"]) == (200, '"8"')


@pytest.mark.parametrize(
    "if_match",
    ['W/"1"', "1", '"one"', '"1", "2"', '"0"', '"-1"', '""', '"99999999999"'],
)
def test_a_weak_or_malformed_if_match_is_a_400_and_changes_nothing(if_match: str) -> None:
    # given
    client, order, variant = a_customer_order()
    before = snapshot(order, variant)
    # when
    response = client.post(cancel_url(order), HTTP_IF_MATCH=if_match)
    # then
    body = assert_problem(response, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["If-Match"]
    assert snapshot(order, variant) == before
