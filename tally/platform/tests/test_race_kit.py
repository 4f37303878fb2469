"""The shared race and lock helpers do what concurrency tests rely on."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from tally.platform.audit.models import AuditEvent
from tally.platform.testing.race import (
    backend_pid,
    lock_wait_for,
    run_concurrently,
    transaction_held,
    transactions_open,
    wait_until,
)


@pytest.mark.django_db(transaction=True)
def test_run_concurrently_starts_callers_together_and_collects_every_outcome() -> None:
    # given
    inside = threading.Barrier(5, timeout=5)  # passes only if all five run at the same time

    def caller() -> int:
        pid = backend_pid()  # the connection is held until the thread ends
        inside.wait()
        return pid

    def failing() -> int:
        raise ValueError("refused")

    # when
    outcomes = run_concurrently(caller, times=5)
    mixed = run_concurrently(lambda: 1, failing)
    # then
    assert all(outcome.ok for outcome in outcomes)
    assert len({outcome.value for outcome in outcomes}) == 5  # one connection each
    assert mixed[0].value == 1
    assert isinstance(mixed[1].error, ValueError)


@pytest.mark.django_db(transaction=True)
def test_held_transaction_blocks_a_writer_until_released() -> None:
    # given
    event = AuditEvent.objects.create(action="probe", target_type="t", target_id="1")
    done = threading.Event()

    def lock_the_row() -> int:
        return AuditEvent.objects.select_for_update().get(pk=event.pk).pk

    def writer() -> None:
        AuditEvent.objects.filter(pk=event.pk).update(action="changed")
        connection.close()
        done.set()

    # when
    with transaction_held(lock_the_row) as held:
        assert held.value == event.pk
        assert [row["pid"] for row in transactions_open()] == [held.backend]
        thread = threading.Thread(target=writer)
        thread.start()
        waiter = lock_wait_for(timeout_seconds=10)
        # then: the writer waits for the held row, and has not written
        assert not done.is_set()
        assert AuditEvent.objects.get(pk=event.pk).action == "probe"
    wait_until(done.is_set)
    thread.join(5)
    assert waiter != held.backend
    assert AuditEvent.objects.get(pk=event.pk).action == "changed"
    assert transactions_open() == []


@pytest.mark.django_db(transaction=True)
def test_held_transaction_rolls_back_when_the_block_raises() -> None:
    def write() -> None:
        AuditEvent.objects.create(action="held", target_type="t", target_id="1")

    with pytest.raises(RuntimeError), transaction_held(write):
        raise RuntimeError("test failed")
    assert not AuditEvent.objects.filter(action="held").exists()


def test_wait_until_returns_the_value_or_fails_after_the_deadline() -> None:
    assert wait_until(lambda: 42) == 42
    with pytest.raises(AssertionError, match="never"):
        wait_until(lambda: False, timeout_seconds=0.1, message="never")


@pytest.mark.django_db(transaction=True)
def test_lock_wait_for_fails_when_nobody_waits() -> None:
    with pytest.raises(AssertionError, match="waited on a lock"), transaction.atomic():
        lock_wait_for(timeout_seconds=0.2)
