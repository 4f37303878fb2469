"""Orders are readable in the admin (with their lines, filtered by status, found by number
or email) and cannot be written there."""

from __future__ import annotations

import pytest
from django.test import Client

from tally.catalog.testing import variant_make
from tally.identity.models import User
from tally.identity.tests.factories import CustomerFactory
from tally.offers.testing import customer_fund
from tally.orders.models import Order
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_place_for_test
from tally.payments.services import PaymentRequest, payment_start
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/admin/orders/order/"


def _admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_admins_list_find_filter_and_read_orders(admin_user: User) -> None:
    # given: two guests' orders, one cancelled
    variant = variant_make(stock=5, sku="WASH-PREMIUM")
    kept = order_place_for_test(lines=[(variant, 1)], email="kept@example.com").order
    dropped = order_place_for_test(lines=[(variant, 1)], email="dropped@example.com").order
    Order.objects.filter(pk=dropped.pk).update(status="cancelled")
    client = _admin_client(admin_user)
    # when
    by_number = client.get(URL, {"q": kept.number}).content.decode()
    by_email = client.get(URL, {"q": "dropped@example"}).content.decode()
    cancelled = client.get(URL, {"status__exact": "cancelled"}).content.decode()
    detail = client.get(f"{URL}{kept.pk}/change/")
    # then
    assert kept.number in by_number
    assert dropped.number not in by_number
    assert (dropped.number in by_email, kept.number in by_email) == (True, False)
    assert (dropped.number in cancelled, kept.number in cancelled) == (True, False)
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "WASH-PREMIUM" in page
    # the token's hash is not shown
    assert kept.access_token_hash not in page


def test_orders_cannot_be_added_changed_or_deleted_in_the_admin(admin_user: User) -> None:
    # given
    order = order_place_for_test(lines=[(variant_make(stock=None), 1)]).order
    client = _admin_client(admin_user)
    # when
    added = client.post(f"{URL}add/", {"email": "x@example.com"})
    changed = client.post(f"{URL}{order.pk}/change/", {"status": "completed"})
    deleted = client.post(f"{URL}{order.pk}/delete/", {"post": "yes"})
    # then
    assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    order.refresh_from_db()
    assert (Order.objects.count(), order.status, order.version) == (1, "pending", 1)


def test_an_orders_page_shows_its_totals_history_and_links_to_its_payments(
    admin_user: User,
) -> None:
    # given: a paid order (a wallet payment, settled at once)
    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    order = order_place_for_test(lines=[(variant_make(price=10_00), 2)], customer=customer).order
    access = order_get_for_actor(actor=customer.user, order_id=order.pk)
    payment = payment_start(access=access, actor=customer.user, request=PaymentRequest("wallet"))
    client = _admin_client(admin_user)
    # when
    page = client.get(f"{URL}{order.pk}/change/").content.decode()
    payments = client.get("/admin/payments/payment/", {"order": str(order.pk)})
    # then
    order.refresh_from_db()
    assert f"= {order.total // 100}.{order.total % 100:02d} USD" in page
    history = list(
        AuditEvent.objects.filter(target_type="orders.order", target_id=str(order.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert history[-1] == "order.confirmed"
    assert all(action in page for action in history)
    assert f"/admin/payments/payment/?order={order.pk}" in page
    assert payments.status_code == 200
    assert [row.pk for row in payments.context["cl"].result_list] == [payment.pk]
