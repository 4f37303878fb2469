"""The one way a use case opens its transaction: own (durable), joined, or a savepoint."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from tally.platform.audit.models import AuditEvent
from tally.platform.db import use_case, use_case_transaction
from tally.platform.exceptions import InvalidStateError

pytestmark = pytest.mark.django_db(transaction=True)


def _write(action: str) -> None:
    AuditEvent.objects.create(action=action, target_type="t", target_id="1")


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


@use_case
def writes_then_refuses() -> None:
    _write("use case")
    raise InvalidStateError()


@use_case
def writes() -> bool:
    _write("use case")
    return connection.atomic_blocks[-1].durable


@use_case(refusals_write_nothing=True)
def refuses_before_writing() -> None:
    raise InvalidStateError()


def test_outermost_use_case_has_a_durable_transaction_of_its_own() -> None:
    # when
    durable = writes()
    # then
    assert durable is True
    assert _actions() == ["use case"]


def test_inside_a_use_case_block_it_joins_without_a_savepoint() -> None:
    # given: the idempotency layer's (or a task's) block
    with CaptureQueriesContext(connection) as queries, use_case_transaction():
        _write("layer")
        writes()
    # then: one transaction, no savepoint, both writes
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert "SAVEPOINT" not in statements
    assert _actions() == ["layer", "use case"]


def test_a_refusal_inside_a_use_case_block_rolls_the_whole_block_back() -> None:
    def layer_that_swallows_the_refusal() -> None:
        with use_case_transaction():
            _write("layer")
            with pytest.raises(InvalidStateError):
                writes_then_refuses()
            _write("after")  # refused: the joined transaction is marked for rollback

    # when
    with pytest.raises(TransactionManagementError):
        layer_that_swallows_the_refusal()
    # then: nothing of the half-done use case, nor of the layer, was committed
    assert _actions() == []


def test_inside_a_plain_atomic_a_refusal_rolls_back_to_its_savepoint() -> None:
    # when
    with transaction.atomic():
        _write("caller")
        with pytest.raises(InvalidStateError):
            writes_then_refuses()
        _write("after")
    # then
    assert _actions() == ["caller", "after"]


def test_a_use_case_whose_refusals_write_nothing_never_takes_a_savepoint() -> None:
    # when
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        _write("caller")
        with pytest.raises(InvalidStateError):
            refuses_before_writing()
        _write("after")
    # then
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert "SAVEPOINT" not in statements
    assert _actions() == ["caller", "after"]
