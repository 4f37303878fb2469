"""The payments admin shows payments with their events and refunds, and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from tally.catalog.testing import variant_make
from tally.identity.tests.factories import AdminFactory
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_place_for_test
from tally.payments.models import Payment
from tally.payments.services import PaymentRequest, payment_start

pytestmark = pytest.mark.django_db


def test_an_admin_reads_a_payment_and_its_events_and_cannot_change_it() -> None:
    placed = order_place_for_test(lines=[(variant_make(price=10_00), 1)])
    access = order_get_for_actor(
        actor=None, order_id=placed.order.pk, access_token=placed.access_token
    )
    payment = payment_start(access=access, actor=None, request=PaymentRequest("cash"))
    client = Client()
    client.force_login(AdminFactory())

    listing = client.get("/admin/payments/payment/", {"q": placed.order.number})
    page = client.get(f"/admin/payments/payment/{payment.pk}/change/")
    refunds = client.get("/admin/payments/refund/")
    posted = client.post(f"/admin/payments/payment/{payment.pk}/change/", {"status": "captured"})

    assert listing.status_code == 200
    assert str(payment.pk) in listing.content.decode()
    assert page.status_code == 200
    assert "request" in page.content.decode()
    assert refunds.status_code == 200
    assert posted.status_code == 403
    assert Payment.objects.get(pk=payment.pk).status == "initiated"
