"""Read-only admin pages for sales and numbers, searchable by number and vendor email."""

from __future__ import annotations

import pytest
from django.test import Client

from tally.credit.testing import vendor_fund
from tally.identity.models import User, VendorProfile
from tally.topups import services
from tally.topups.models import ChargeSale

pytestmark = pytest.mark.django_db


def test_sales_are_listed_searchable_and_read_only(admin_user: User, vendor: VendorProfile) -> None:
    # given
    vendor_fund(vendor, 5_00)
    sale = services.charge_sale_create(
        vendor=vendor, phone_number="+14155550123", amount_minor=1_00
    ).sale
    client = Client()
    client.force_login(admin_user)
    url = "/admin/topups/chargesale/"
    # then: found by number and by the vendor's email, not by anything else
    for query in ("4155550123", vendor.user.email):
        response = client.get(url, {"q": query})
        assert response.status_code == 200
        assert str(sale.id) in response.content.decode()
    assert str(sale.id) not in client.get(url, {"q": "nobody@example.com"}).content.decode()
    # and nothing can be added, changed or deleted there
    assert client.get(f"{url}add/").status_code == 403
    assert client.post(f"{url}{sale.id}/delete/", {"post": "yes"}).status_code == 403
    assert ChargeSale.objects.filter(pk=sale.pk).exists()
    numbers = client.get("/admin/topups/phonenumber/", {"q": "+14155550123"})
    assert numbers.status_code == 200
    assert "+14155550123" in numbers.content.decode()
