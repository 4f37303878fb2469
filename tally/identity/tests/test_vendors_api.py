from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from rest_framework.test import APIClient

from tally.identity.models import User, VendorProfile
from tally.identity.tests.factories import PASSWORD, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.platform.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_admin_creates_active_vendor(admin_client: APIClient) -> None:
    # when
    response = admin_client.post(
        "/api/v1/vendors/",
        {
            "email": "new@example.com",
            "password": PASSWORD,
            "business_name": "New Co",
            "phone": "+14155550123",
        },
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert {"id", "email", "business_name", "is_active"} <= set(body)
    assert body["is_active"] is True
    assert body["email"] == "new@example.com"
    assert VendorProfile.objects.get(user_id=body["id"]).is_active


def test_vendor_cannot_create_vendors(vendor_client: APIClient) -> None:
    count = VendorProfile.objects.count()
    response = vendor_client.post(
        "/api/v1/vendors/", {"email": "n@example.com", "password": PASSWORD, "business_name": "N"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert VendorProfile.objects.count() == count


def test_vendor_sees_only_itself(vendor_client: APIClient, vendor: VendorProfile) -> None:
    other = VendorFactory()
    listed = vendor_client.get("/api/v1/vendors/").json()
    assert [v["id"] for v in listed["results"]] == [str(vendor.user_id)]
    assert {"next", "previous"} <= set(listed)
    assert vendor_client.get(f"/api/v1/vendors/{vendor.user_id}/").status_code == 200
    response = vendor_client.get(f"/api/v1/vendors/{other.user_id}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_customer_cannot_list_vendors(customer_client: APIClient) -> None:
    response = customer_client.get("/api/v1/vendors/")
    assert response.status_code == 403


def test_admin_lists_vendors_with_cursor_pages(admin_client: APIClient) -> None:
    VendorFactory.create_batch(5)
    first = admin_client.get("/api/v1/vendors/?page_size=2").json()
    assert len(first["results"]) == 2
    second = admin_client.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert not {v["id"] for v in first["results"]} & {v["id"] for v in second["results"]}


def test_activate_and_deactivate_are_admin_only_and_audited(
    admin_client: APIClient, admin_user: User, inactive_vendor: VendorProfile
) -> None:
    vendor_self = authenticate(APIClient(), inactive_vendor.user)
    assert (
        vendor_self.post(f"/api/v1/vendors/{inactive_vendor.user_id}/activate/").status_code == 403
    )
    response = admin_client.post(f"/api/v1/vendors/{inactive_vendor.user_id}/activate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is True
    # activating twice is a no-op: one transition, one audit event
    admin_client.post(f"/api/v1/vendors/{inactive_vendor.user_id}/activate/")
    events = AuditEvent.objects.filter(
        action="vendor.activated", target_id=str(inactive_vendor.user_id)
    )
    assert events.count() == 1
    assert events.get().actor_id == admin_user.id
    assert events.get().changes == {"is_active": [False, True]}
    response = admin_client.post(f"/api/v1/vendors/{inactive_vendor.user_id}/deactivate/")
    assert response.json()["is_active"] is False


def test_vendor_cannot_change_its_own_activation_via_patch(
    vendor_client: APIClient, vendor: VendorProfile
) -> None:
    response = vendor_client.patch(
        f"/api/v1/vendors/{vendor.user_id}/", {"is_active": False, "address": "1 Road"}
    )
    assert response.status_code == 200
    vendor.refresh_from_db()
    assert vendor.is_active is True
    assert vendor.address == "1 Road"


def test_delete_closes_vendor_and_refuses_login(
    admin_client: APIClient, api_client: APIClient
) -> None:
    vendor = VendorFactory(user__email="closing@example.com")
    assert admin_client.delete(f"/api/v1/vendors/{vendor.user_id}/").status_code == 204
    vendor.refresh_from_db()
    assert vendor.is_active is False
    assert VendorProfile.objects.filter(pk=vendor.pk).exists()
    response = api_client.post(
        "/api/v1/auth/login/", {"email": "closing@example.com", "password": PASSWORD}
    )
    assert response.status_code == 401


def test_admin_action_activates_through_the_service(
    admin_user: User, inactive_vendor: VendorProfile
) -> None:
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/identity/vendorprofile/",
        {"action": "activate", "_selected_action": [str(inactive_vendor.pk)]},
    )
    assert response.status_code == 302
    inactive_vendor.refresh_from_db()
    assert inactive_vendor.is_active is True
    assert AuditEvent.objects.filter(action="vendor.activated", actor=admin_user).count() == 1
    assert site.is_registered(VendorProfile)
