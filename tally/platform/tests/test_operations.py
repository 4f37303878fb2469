"""``GET operations/{id}/`` serves every registered kind through its guarded lookup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from tally.identity.models import User
from tally.identity.tests.factories import CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.platform.operations import selectors
from tally.platform.operations.selectors import Operation, operation_kind_register

pytestmark = pytest.mark.django_db

OPERATION_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def owner(monkeypatch: pytest.MonkeyPatch) -> User:
    """A probe kind whose one operation belongs to a customer."""
    owner = CustomerFactory().user
    monkeypatch.setattr(selectors, "_LOOKUPS", dict(selectors._LOOKUPS))

    def lookup(actor: Any, operation_id: uuid.UUID) -> Operation | None:
        if operation_id != OPERATION_ID or actor != owner:
            return None
        return Operation(
            id=OPERATION_ID,
            kind="probe",
            status="failed",
            created_at=CREATED,
            failure_code="declined",
            failure_detail="The provisioner declined.",
            details={"offer": "internet-10"},
            links={"self": selectors.operation_location(operation_id=OPERATION_ID)},
        )

    operation_kind_register(kind="probe", lookup=lookup)
    return owner


def test_a_registered_kind_is_served_with_the_common_fields_and_its_own(owner: User) -> None:
    # when
    response = authenticate(APIClient(), owner).get(f"/api/v1/operations/{OPERATION_ID}/")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "id": str(OPERATION_ID),
        "kind": "probe",
        "status": "failed",
        "failure_code": "declined",
        "failure_detail": "The provisioner declined.",
        "created_at": "2026-01-02T03:04:05Z",
        "completed_at": None,
        "links": {"self": f"/api/v1/operations/{OPERATION_ID}/"},
        "offer": "internet-10",
    }
    assert "probe" in selectors.operation_kinds()


def test_another_users_operation_is_not_found_like_a_missing_one(owner: User) -> None:
    other = authenticate(APIClient(), VendorFactory().user)
    for operation_id in (OPERATION_ID, uuid.uuid4()):
        response = other.get(f"/api/v1/operations/{operation_id}/")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert APIClient().get(f"/api/v1/operations/{OPERATION_ID}/").status_code == 401


def test_a_kind_cannot_be_registered_twice_with_another_lookup(owner: User) -> None:
    with pytest.raises(ValueError, match="already registered"):
        operation_kind_register(kind="probe", lookup=lambda actor, operation_id: None)
