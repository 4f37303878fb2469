"""Every declared status machine refuses every undeclared transition and allows the
declared ones, against the real database; plus the transition function's own contract."""

from __future__ import annotations

import importlib

import pytest
from django.db import transaction

from tally.platform.audit.models import AuditEvent
from tally.platform.exceptions import InvalidStateError
from tally.platform.status import StatusMachine, status_machines, status_transition
from tally.platform.testing.status import SAMPLES_MODULE, StatusSample


def _samples_for(machine: StatusMachine) -> StatusSample:
    assert machine.model is not None
    app = machine.model._meta.app_config
    assert app is not None
    module = importlib.import_module(f"{app.name}.{SAMPLES_MODULE}")
    return module.STATUS_SAMPLES[machine.model]


def test_machines_are_declared() -> None:
    # then: at least credit's two machines, each matching its field's choices
    names = {machine.model.__name__ for machine in status_machines() if machine.model}
    assert {"CreditRequest", "CustomerCreditOperation"} <= names
    for machine in status_machines():
        machine.check()


@pytest.mark.django_db
def test_every_machine_allows_exactly_its_declared_transitions() -> None:
    checked = 0
    for machine in status_machines():
        # given
        assert machine.model is not None
        samples = _samples_for(machine)
        for source in machine.states:
            for target in machine.states:
                if source == target:
                    continue
                row = samples.row_in(source)
                fields = samples.fields_for(target)
                audits_before = AuditEvent.objects.count()
                # when
                try:
                    with transaction.atomic():
                        change = status_transition(
                            instance=row, to=target, actor=None, action="test", fields=fields
                        )
                    refused = False
                except InvalidStateError:
                    refused = True
                # then
                stored = machine.model._default_manager.filter(pk=row.pk).values_list(
                    machine.field, flat=True
                )
                label = f"{machine.model.__name__}: {source} -> {target}"
                if machine.allows(source=source, target=target):
                    assert not refused, label
                    assert (change.moved, change.old, change.new) == (True, source, target)
                    assert list(stored) == [target], label
                    assert AuditEvent.objects.count() == audits_before + 1
                    audit = AuditEvent.objects.latest("id")
                    assert audit.changes[machine.field] == [source, target]
                else:
                    assert refused, label
                    assert list(stored) == [source], label
                    assert AuditEvent.objects.count() == audits_before
                checked += 1
    assert checked >= 4 * 3 + 3 * 2


@pytest.mark.django_db
def test_no_op_states_change_nothing_and_write_no_audit() -> None:
    # given
    machine = next(m for m in status_machines() if m.model and m.model.__name__ == "CreditRequest")
    samples = _samples_for(machine)
    row = samples.row_in("rejected")
    audits_before = AuditEvent.objects.count()
    # when
    with transaction.atomic():
        change = status_transition(
            instance=row, to="rejected", actor=None, action="test", no_op_states=("rejected",)
        )
    # then
    assert (change.moved, change.old, change.new) == (False, "rejected", "rejected")
    assert AuditEvent.objects.count() == audits_before


@pytest.mark.django_db
def test_refusal_is_invalid_state_with_the_current_status() -> None:
    # given
    machine = next(m for m in status_machines() if m.model and m.model.__name__ == "CreditRequest")
    row = _samples_for(machine).row_in("rejected")
    # when
    with pytest.raises(InvalidStateError) as refused, transaction.atomic():
        status_transition(instance=row, to="approving", actor=None, action="test")
    # then
    assert refused.value.code == "invalid_state"
    assert refused.value.extra == {"current_status": "rejected", "target_status": "approving"}
    row.refresh_from_db()
    assert row.status == "rejected"


def test_a_declaration_naming_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="undeclared states"):
        StatusMachine(states={"a": "one"}, transitions={"a": ("b",)})
    with pytest.raises(ValueError, match="one-line description"):
        StatusMachine(states={"a": " "}, transitions={})
