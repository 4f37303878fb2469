"""GET activations/{id}/'s reads: from Redis while an activation is in flight, from the
database once final; losing Redis changes nothing but the speed."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.offers import services
from tally.offers.live_status import (
    activation_status_view,
    live_status_read,
    live_status_write,
)
from tally.offers.models import Activation, ActivationStatus
from tally.offers.provisioning import ProvisioningResult
from tally.offers.selectors import activation_status_for_actor
from tally.offers.services import activation_create
from tally.offers.testing import customer_fund, offer_make
from tally.platform.db import use_case_transaction
from tally.platform.exceptions import NotFoundError
from tally.platform.outbox.callout import CallOutAttempt

pytestmark = pytest.mark.django_db(transaction=True)


def _accepted() -> Activation:
    customer = CustomerFactory()
    customer_fund(customer, 1000)
    return activation_create(customer=customer, offer=offer_make(price=500))


def test_an_in_flight_activation_is_read_from_redis_by_its_customer_and_admins() -> None:
    # given: accepted (its live status written on commit); no worker runs
    activation = _accepted()
    # when
    own = activation_status_for_actor(actor=activation.customer.user, activation_id=activation.pk)
    admin = activation_status_for_actor(actor=AdminFactory(), activation_id=activation.pk)
    # then
    expected = activation_status_view(activation)
    assert own == admin
    assert own.served_from == "live"
    assert {**vars(own), "served_from": "database"} == vars(expected)
    assert (own.status, own.reference, own.amount, own.currency) == (
        "pending",
        activation.reference,
        500,
        "USD",
    )


@pytest.mark.parametrize("stranger", [CustomerFactory, VendorFactory])
def test_another_user_cannot_read_a_live_status(stranger: Any) -> None:
    # given
    activation = _accepted()
    # when / then: not found, as for a missing activation
    with pytest.raises(NotFoundError):
        activation_status_for_actor(actor=stranger().user, activation_id=activation.pk)


def test_a_final_activation_is_read_from_the_database() -> None:
    # given: final in the database, while Redis still says pending
    activation = _accepted()
    Activation.objects.filter(pk=activation.pk).update(
        status=ActivationStatus.FAILED,
        failure_code="provider_rejected",
        resolution_transfer=activation.pending_transfer,
        completed_at=timezone.now(),
    )
    final = Activation.objects.get(pk=activation.pk)
    assert live_status_write(activation_status_view(final)) is True
    # when
    view = activation_status_for_actor(actor=activation.customer.user, activation_id=activation.pk)
    # then
    assert view.served_from == "database"
    assert (view.status, view.failure_code) == ("failed", "provider_rejected")
    assert live_status_read(activation_id=activation.pk) is None


def test_a_late_in_flight_write_never_hides_a_final_state() -> None:
    # given: the final marker is written, then the request's late "pending" arrives
    activation = _accepted()
    final = Activation(
        **{
            **{
                field.attname: getattr(activation, field.attname)
                for field in Activation._meta.fields
            },
            "status": ActivationStatus.SUCCEEDED,
        }
    )
    assert live_status_write(activation_status_view(final)) is True
    # when
    stored = live_status_write(activation_status_view(activation))
    # then
    assert stored is False
    assert live_status_read(activation_id=activation.pk) is None


def test_without_redis_every_read_comes_from_the_database(settings: Any) -> None:
    # given: an activation accepted while Redis is unreachable (nothing was cached)
    location = settings.CACHES["default"]["LOCATION"]
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    activation = _accepted()
    # when
    view = activation_status_for_actor(actor=activation.customer.user, activation_id=activation.pk)
    # then
    assert view.served_from == "database"
    assert view.status == "pending"
    assert live_status_read(activation_id=activation.pk) is None
    assert location != "redis://127.0.0.1:1/0"


def test_a_settle_sends_readers_to_the_database_before_it_commits() -> None:
    # given: claimed by a worker (processing, in Redis)
    activation = _accepted()
    services.activation_mark_processing(activation_id=str(activation.pk))
    live = live_status_read(activation_id=activation.pk)
    assert live is not None
    assert live.status == "processing"
    # when
    with use_case_transaction():
        services.activation_settle(
            CallOutAttempt(message_id=0, attempt=1, max_attempts=1, idempotency_key="k"),
            ProvisioningResult(activated=True, provider_reference="PRV-9").as_json(),
            activation_id=str(activation.pk),
        )
        # then: not committed yet, and Redis already answers "ask the database"
        assert live_status_read(activation_id=activation.pk) is None
    view = activation_status_for_actor(actor=activation.customer.user, activation_id=activation.pk)
    assert (view.status, view.provider_reference, view.served_from) == (
        "succeeded",
        "PRV-9",
        "database",
    )
