"""Notifications are a read-only record in Django admin: listed and searchable, never edited."""

from __future__ import annotations

import pytest
from django.test import Client

from tally.identity.models import User
from tally.identity.tests.factories import UserFactory
from tally.notifications.models import Notification, NotificationKind, NotificationStatus
from tally.notifications.tests.samples import send, send_to_guest

pytestmark = pytest.mark.django_db

URL = "/admin/notifications/notification/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admins_list_and_search_notifications(admin_user: User) -> None:
    # given
    send(UserFactory(email="ada@example.com"), kind=NotificationKind.ACTIVATION_FAILED)
    send(UserFactory(email="grace@example.com"), kind=NotificationKind.SUBSCRIPTION_EXPIRED)
    client = login(admin_user)
    # when
    listing = client.get(URL)
    found = client.get(URL, {"q": "ada@"})
    failed_only = client.get(URL, {"status__exact": "failed"})
    # then
    assert listing.status_code == 200
    assert [n.recipient for n in listing.context["cl"].result_list] == [
        "grace@example.com",
        "ada@example.com",
    ]
    assert [n.kind for n in found.context["cl"].result_list] == ["activation_failed"]
    assert list(failed_only.context["cl"].result_list) == []


def test_guest_notifications_are_listed_searched_and_shown_with_no_user(
    admin_user: User,
) -> None:
    # given
    send(UserFactory(email="ada@example.com"), kind=NotificationKind.ACTIVATION_FAILED)
    send_to_guest("guest@example.com", dedup_key="order:1:placed")
    guest = Notification.objects.get(user__isnull=True)
    client = login(admin_user)
    # when
    listing = client.get(URL)
    by_address = client.get(URL, {"q": "guest@"})
    by_kind = client.get(URL, {"kind__exact": "order_placed"})
    view = client.get(f"{URL}{guest.pk}/change/")
    # then
    assert listing.status_code == 200
    assert [(n.recipient, n.user) for n in listing.context["cl"].result_list] == [
        ("guest@example.com", None),
        ("ada@example.com", Notification.objects.get(user__isnull=False).user),
    ]
    assert [n.pk for n in by_address.context["cl"].result_list] == [guest.pk]
    assert [n.pk for n in by_kind.context["cl"].result_list] == [guest.pk]
    assert view.status_code == 200
    assert b"guest@example.com" in view.content


def test_notification_pages_never_add_edit_or_delete(admin_user: User) -> None:
    # given
    send(UserFactory(email="ada@example.com"))
    notification = Notification.objects.get()
    client = login(admin_user)
    # when
    add = client.get(f"{URL}add/")
    view = client.get(f"{URL}{notification.pk}/change/")
    edit = client.post(f"{URL}{notification.pk}/change/", {"status": "sent", "recipient": "x@y.z"})
    delete = client.post(f"{URL}{notification.pk}/delete/", {"post": "yes"})
    # then
    assert (add.status_code, view.status_code, edit.status_code, delete.status_code) == (
        403,
        200,
        403,
        403,
    )
    assert b"Save" not in view.content
    notification.refresh_from_db()
    assert (notification.status, notification.recipient) == (
        NotificationStatus.QUEUED,
        "ada@example.com",
    )
    assert Notification.objects.count() == 1
