"""GET, PATCH vendors/{id}/low-credit-alert/: contract, permissions, validation, audit."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.identity.models import VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _url(vendor: VendorProfile) -> str:
    return f"/api/v1/vendors/{vendor.user_id}/low-credit-alert/"


def _settings(vendor: VendorProfile) -> tuple[Any, str, str]:
    vendor.refresh_from_db()
    return vendor.low_credit_threshold, vendor.alert_webhook_url, vendor.alert_webhook_secret


def test_a_vendor_reads_its_settings_off_by_default(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    response = vendor_client.get(_url(vendor))
    assert response.status_code == 200
    assert response.json() == {
        "threshold": None,
        "webhook_url": "",
        "webhook_secret_set": False,
        "currency": "USD",
        "webhook_secret": None,
    }


def test_a_vendor_sets_its_threshold_and_webhook_and_sees_the_secret_once(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    # when
    response = vendor_client.patch(
        _url(vendor),
        {"threshold": "50.00", "webhook_url": "https://shop.example/hooks/tally"},
        format="json",
    )
    # then
    assert response.status_code == 200
    body = response.json()
    secret = body.pop("webhook_secret")
    assert body == {
        "threshold": "50.00",
        "webhook_url": "https://shop.example/hooks/tally",
        "webhook_secret_set": True,
        "currency": "USD",
    }
    assert isinstance(secret, str)
    assert len(secret) >= 32
    assert _settings(vendor) == (50_00, "https://shop.example/hooks/tally", secret)
    [event] = AuditEvent.objects.filter(action="vendor.low_credit_alert_updated")
    assert event.actor_id == vendor.user_id
    assert event.changes == {
        "low_credit_threshold": [None, 50_00],
        "alert_webhook_url": ["", "https://shop.example/hooks/tally"],
        "alert_webhook_secret": [None, "set"],
    }
    # when: read again, or changed without rotating: the secret is never shown again
    assert vendor_client.get(_url(vendor)).json()["webhook_secret"] is None
    again = vendor_client.patch(_url(vendor), {"threshold": "20"}, format="json").json()
    assert (again["threshold"], again["webhook_secret"]) == ("20.00", None)
    assert _settings(vendor)[2] == secret
    # when: rotated
    rotated = vendor_client.patch(_url(vendor), {"rotate_webhook_secret": True}, format="json")
    new_secret = rotated.json()["webhook_secret"]
    assert new_secret not in (None, secret)
    assert _settings(vendor)[2] == new_secret
    assert AuditEvent.objects.filter(action="vendor.low_credit_alert_updated").count() == 3


def test_null_or_zero_turns_alerts_off(vendor_client: APIClient, vendor: VendorProfile) -> None:
    vendor_client.patch(_url(vendor), {"threshold": "10.00"}, format="json")
    assert (
        vendor_client.patch(_url(vendor), {"threshold": None}, format="json").json()["threshold"]
        is None
    )
    assert _settings(vendor)[0] is None
    assert (
        vendor_client.patch(_url(vendor), {"threshold": "0"}, format="json").json()["threshold"]
        == "0.00"
    )
    assert _settings(vendor)[0] == 0


def test_an_unchanged_patch_writes_no_audit(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    vendor_client.patch(_url(vendor), {"threshold": "10.00"}, format="json")
    vendor_client.patch(_url(vendor), {"threshold": "10"}, format="json")
    assert AuditEvent.objects.filter(action="vendor.low_credit_alert_updated").count() == 1


def test_an_admin_sets_a_vendors_threshold(admin_client: APIClient, vendor: VendorProfile) -> None:
    response = admin_client.patch(_url(vendor), {"threshold": "75.50"}, format="json")
    assert response.status_code == 200
    assert response.json()["threshold"] == "75.50"
    assert _settings(vendor)[0] == 75_50
    event = AuditEvent.objects.get(action="vendor.low_credit_alert_updated")
    assert event.actor_id != vendor.user_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold": "-1.00"}, "threshold"),
        ({"threshold": "1.005"}, "threshold"),
        ({"threshold": "abc"}, "threshold"),
        ({"threshold": "1e3"}, "threshold"),
        ({"threshold": "100000000000000000000"}, "threshold"),
        ({"webhook_url": "ftp://shop.example/x"}, "webhook_url"),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"webhook_url": "https://shop.example/" + "x" * 500}, "webhook_url"),
        ({"rotate_webhook_secret": "maybe"}, "rotate_webhook_secret"),
    ],
)
def test_bad_input_is_a_validation_problem_and_changes_nothing(
    vendor_client: APIClient, vendor: VendorProfile, body: dict[str, Any], field: str
) -> None:
    before = _settings(vendor)
    response = vendor_client.patch(_url(vendor), body, format="json")
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == [field]
    assert _settings(vendor) == before
    assert not AuditEvent.objects.filter(action="vendor.low_credit_alert_updated").exists()


def test_another_vendor_is_not_found_and_others_are_refused(
    vendor_client: APIClient, customer_client: APIClient, partner_client: APIClient
) -> None:
    other = VendorFactory()
    assert vendor_client.get(_url(other)).status_code == 404
    assert vendor_client.patch(_url(other), {"threshold": "1"}, format="json").status_code == 404
    assert customer_client.patch(_url(other), {"threshold": "1"}, format="json").status_code == 403
    assert partner_client.get(_url(other)).status_code == 403
    assert APIClient().get(_url(other)).status_code == 401
    assert _settings(other)[0] is None


def test_an_inactive_vendor_may_still_set_its_alerts() -> None:
    vendor = VendorFactory(inactive=True)
    client = authenticate(APIClient(), vendor.user)
    assert client.patch(_url(vendor), {"threshold": "5"}, format="json").status_code == 200
    assert _settings(vendor)[0] == 5_00
