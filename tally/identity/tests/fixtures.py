"""Role fixtures shared by every app's tests (registered in the root conftest)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tally.identity.models import User, VendorProfile
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)


def authenticate(client: APIClient, user: User) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def admin_user(db: None) -> User:
    return AdminFactory()


@pytest.fixture
def vendor(db: None) -> VendorProfile:
    return VendorFactory()


@pytest.fixture
def inactive_vendor(db: None) -> VendorProfile:
    return VendorFactory(inactive=True)


@pytest.fixture
def admin_client(admin_user: User) -> APIClient:
    return authenticate(APIClient(), admin_user)


@pytest.fixture
def vendor_client(vendor: VendorProfile) -> APIClient:
    return authenticate(APIClient(), vendor.user)


@pytest.fixture
def customer_client(db: None) -> APIClient:
    return authenticate(APIClient(), CustomerFactory().user)


@pytest.fixture
def partner_client(db: None) -> APIClient:
    return authenticate(APIClient(), PartnerFactory().user)
