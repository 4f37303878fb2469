"""The callback attempt log is readable in the admin and cannot be written there."""

from __future__ import annotations

from typing import cast

import pytest
from django.test import Client

from tally.identity.models import PartnerProfile, User
from tally.identity.tests.factories import PartnerFactory
from tally.partners.models import CallbackAttempt
from tally.partners.testing import finished_activation_make

pytestmark = pytest.mark.django_db

URL = "/admin/partners/callbackattempt/"


def _logged_attempt() -> CallbackAttempt:
    partner = cast(PartnerProfile, PartnerFactory(callback_url="https://partner.example/cb"))
    activation = finished_activation_make(partner=partner, reference="order-4242")
    return CallbackAttempt.objects.create(
        activation=activation,
        attempt=1,
        url="https://partner.example/cb",
        status_code=503,
        error="the partner answered HTTP 503",
        duration_ms=41,
    )


def test_admins_read_the_attempt_log(admin_user: User) -> None:
    # given
    attempt = _logged_attempt()
    client = Client()
    client.force_login(admin_user)
    # when
    listing = client.get(URL, {"q": "order-4242"})
    detail = client.get(f"{URL}{attempt.pk}/change/")
    # then
    assert listing.status_code == 200
    assert "the partner answered HTTP 503" in listing.content.decode()
    assert detail.status_code == 200


def test_the_attempt_log_cannot_be_added_changed_or_deleted_in_the_admin(admin_user: User) -> None:
    # given
    attempt = _logged_attempt()
    client = Client()
    client.force_login(admin_user)
    # when
    added = client.post(f"{URL}add/", {"attempt": 2, "duration_ms": 1})
    changed = client.post(f"{URL}{attempt.pk}/change/", {"error": ""})
    deleted = client.post(f"{URL}{attempt.pk}/delete/", {"post": "yes"})
    # then
    assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    attempt.refresh_from_db()
    assert (CallbackAttempt.objects.count(), attempt.error) == (1, "the partner answered HTTP 503")
