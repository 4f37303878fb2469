"""Retrying a stuck activation from the admin console: its provisioning job is republished
through the outbox (the sweeper's path), a real worker provisions it against the provider
simulator over HTTP, and the wallet is charged once; refusals change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from tally.identity.models import Role, User
from tally.identity.tests.factories import AdminFactory, CustomerFactory, UserFactory
from tally.ledger.models import Transfer, TransferKind
from tally.ledger.testing import assert_ledger_verifies
from tally.offers.models import Activation, ActivationStatus
from tally.offers.provider_simulator import ProviderSimulator
from tally.offers.services import PROVISION_TASK, activation_create
from tally.offers.testing import activation_wait_final, customer_fund, offer_make, wallet_position
from tally.platform.audit.models import AuditEvent
from tally.platform.outbox import services as outbox
from tally.platform.outbox.models import OutboxMessage

URL = "/admin/offers/activation/"


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def job_of(activation: Activation) -> OutboxMessage:
    return OutboxMessage.objects.get(
        task_name=PROVISION_TASK, payload__activation_id=str(activation.pk)
    )


def stuck_activation(monkeypatch: pytest.MonkeyPatch) -> Activation:
    """A customer's 5.00 activation accepted while the broker was down: never provisioned."""
    real_send = outbox._send

    def broker_down(message: OutboxMessage) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(outbox, "_send", broker_down)
    customer = CustomerFactory()
    customer_fund(customer, 2_000)
    activation = activation_create(customer=customer, offer=offer_make(price=500))
    monkeypatch.setattr(outbox, "_send", real_send)
    return activation


def test_an_admin_retries_a_stuck_activation_and_it_is_provisioned_and_paid_once(
    celery_worker: Any, provider: ProviderSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    activation = stuck_activation(monkeypatch)
    assert wallet_position(activation.customer) == (2_000, 500, 1_500)
    admin = AdminFactory()
    client = login(admin)
    # when
    page = client.get(f"{URL}{activation.pk}/change/")
    response = client.post(f"{URL}{activation.pk}/retry/", follow=True)
    done = activation_wait_final(activation)
    again = client.post(f"{URL}{activation.pk}/retry/", follow=True)
    after = client.get(f"{URL}{activation.pk}/change/")
    # then: provisioned once, the reservation posted once
    assert 'name="retry"' in page.content.decode()
    assert messages_of(response) == [
        f"{activation.reference}: provisioning retried; a worker calls the provider (reload "
        "to see the outcome)."
    ]
    assert done.status == ActivationStatus.SUCCEEDED
    assert provider.calls == [f"outbox-{job_of(activation).pk}"]
    assert wallet_position(activation.customer) == (1_500, 0, 1_500)
    assert list(
        Transfer.objects.filter(pending=activation.pending_transfer).values_list("kind", flat=True)
    ) == [TransferKind.POST_PENDING]
    assert messages_of(again) == [
        f"{activation.reference}: This activation is succeeded: it has ended, there is nothing "
        "to retry."
    ]
    assert list(
        AuditEvent.objects.filter(action="outbox_message.retried").values_list("actor", "target_id")
    ) == [(admin.pk, str(job_of(activation).pk))]
    html = after.content.decode()
    assert "activation.succeeded" in html
    assert 'name="retry"' not in html
    assert_ledger_verifies()


def test_a_retry_after_a_worker_died_mid_call_provisions_once(
    celery_worker: Any, provider: ProviderSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the job was claimed and the provider applied the call, but the worker died
    # before settling (its claim has lapsed)
    activation = stuck_activation(monkeypatch)
    job = job_of(activation)
    provider.answer(f"outbox-{job.pk}", {})
    OutboxMessage.objects.filter(pk=job.pk).update(
        attempts=1,
        claimed_at=timezone.now() - timedelta(minutes=10),
        next_attempt_at=timezone.now() - timedelta(minutes=5),
    )
    # when: an admin retries it from the list
    response = login(AdminFactory()).post(
        URL, {"action": "retry", "_selected_action": [str(activation.pk)]}, follow=True
    )
    done = activation_wait_final(activation)
    # then: the provider applied it once (the second call found the same key)
    assert messages_of(response) == ["Retried 1 activation(s)."]
    assert done.status == ActivationStatus.SUCCEEDED
    assert done.provider_reference == "PRV-1"
    assert provider.activated == {f"outbox-{job.pk}": "PRV-1"}
    assert wallet_position(activation.customer) == (1_500, 0, 1_500)
    assert OutboxMessage.objects.get(pk=job.pk).attempts == 2
    assert_ledger_verifies()


@pytest.mark.django_db
def test_retrying_a_held_job_or_as_a_non_admin_is_refused_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: an activation whose job a worker holds; staff of another role; a viewer
    sent: list[int] = []
    monkeypatch.setattr(outbox, "_send", lambda message: sent.append(message.pk))
    customer = CustomerFactory()
    customer_fund(customer, 2_000)
    activation = activation_create(customer=customer, offer=offer_make(price=500))
    OutboxMessage.objects.filter(pk=job_of(activation).pk).update(
        attempts=1,
        claimed_at=timezone.now(),
        next_attempt_at=timezone.now() + timedelta(seconds=60),
    )
    not_admin = UserFactory(role=Role.CUSTOMER, is_staff=True, is_superuser=True)
    viewer = UserFactory(role=Role.ADMIN, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_activation"))
    audits = AuditEvent.objects.count()
    # when
    held = login(AdminFactory()).post(f"{URL}{activation.pk}/retry/", follow=True)
    refused = login(not_admin).post(f"{URL}{activation.pk}/retry/", follow=True)
    viewer_post = login(viewer).post(f"{URL}{activation.pk}/retry/")
    viewer_page = login(viewer).get(f"{URL}{activation.pk}/change/")
    # then
    assert messages_of(held)[0].startswith(
        f"{activation.reference}: A worker holds this job or it waits for its next attempt"
    )
    assert messages_of(refused) == [f"{activation.reference}: Only admins can do this."]
    assert viewer_post.status_code == 403
    assert 'name="retry"' not in viewer_page.content.decode()
    assert sent == []
    assert AuditEvent.objects.count() == audits
    assert Activation.objects.get(pk=activation.pk).status == ActivationStatus.PENDING
    assert wallet_position(customer) == (2_000, 500, 1_500)
    assert job_of(activation).publish_attempts == 0


@pytest.mark.django_db
def test_the_list_finds_stuck_activations(admin_user: User, settings: Any) -> None:
    # given: one activation accepted ten minutes ago and never provisioned, one just now
    settings.OUTBOX_REPUBLISH_AFTER_SECONDS = 60
    customer = CustomerFactory()
    customer_fund(customer, 2_000)
    offer = offer_make(price=500)
    old = activation_create(customer=customer, offer=offer)
    activation_create(customer=customer, offer=offer)
    Activation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    # when
    listed = login(admin_user).get(URL, {"stuck": "yes"}).context["cl"].result_list
    # then
    assert [activation.pk for activation in listed] == [old.pk]
