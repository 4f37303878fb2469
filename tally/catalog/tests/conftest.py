from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tally.identity.models import VendorProfile
from tally.identity.tests.factories import VendorFactory
from tally.identity.tests.fixtures import authenticate


@pytest.fixture
def other_vendor(db: None) -> VendorProfile:
    """An active vendor that owns nothing the test reads or writes."""
    return VendorFactory()


@pytest.fixture
def other_vendor_client(other_vendor: VendorProfile) -> APIClient:
    return authenticate(APIClient(), other_vendor.user)


@pytest.fixture
def inactive_vendor_client(inactive_vendor: VendorProfile) -> APIClient:
    return authenticate(APIClient(), inactive_vendor.user)
