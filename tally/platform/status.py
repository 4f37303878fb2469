"""Status machines, declared once on their model and enforced by one function.

A model declares its machine as a class attribute: every state with a one-line
description, and the transitions allowed out of each state::

    class Activation(BaseModel):
        status = models.CharField(max_length=16, choices=ActivationStatus.choices)
        status_machine = StatusMachine(
            states={
                ActivationStatus.PENDING: "accepted; the provisioner has not been called",
                ActivationStatus.SUCCEEDED: "provisioned; the reserved funds were posted",
                ActivationStatus.FAILED: "refused by the provisioner; the reservation was voided",
            },
            transitions={
                ActivationStatus.PENDING: (ActivationStatus.SUCCEEDED, ActivationStatus.FAILED),
            },
        )

Every status change then goes through :func:`status_transition`: a conditional ``UPDATE``
from the states allowed to reach the target (the database referees concurrent callers),
the audit row in the same transaction, and 409 ``invalid_state`` otherwise. Declaring the
machine registers it, so ``tally/platform/tests/test_status_machines.py`` proves for every
machine that each undeclared transition is refused and each declared one is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, models

from tally.platform.audit.services import audit_record
from tally.platform.db import require_transaction
from tally.platform.exceptions import ConflictError, DomainError, InvalidStateError

ModelT = TypeVar("ModelT", bound=models.Model)

_MACHINES: dict[type[models.Model], StatusMachine] = {}
_CHECKED: set[type[models.Model]] = set()


class StatusMachine:
    """The states of one model's status field and the transitions allowed between them.

    Declared as a class attribute of the model (any name); Django hands it the model class
    (``contribute_to_class``), which checks the declaration against the field's choices and
    registers the machine.
    """

    def __init__(
        self,
        *,
        states: Mapping[str, str],
        transitions: Mapping[str, Collection[str]],
        field: str = "status",
    ) -> None:
        self.field = field
        self.states: dict[str, str] = {str(state): text for state, text in states.items()}
        self.transitions: dict[str, frozenset[str]] = {
            str(state): frozenset(str(target) for target in targets)
            for state, targets in transitions.items()
        }
        self.model: type[models.Model] | None = None
        for state, text in self.states.items():
            if not text.strip():
                raise ValueError(f"state {state!r} needs a one-line description")
        for source, targets in self.transitions.items():
            unknown = ({source} | targets) - self.states.keys()
            if unknown:
                raise ValueError(f"transitions name undeclared states: {sorted(unknown)}")
            if source in targets:
                raise ValueError(f"{source!r} cannot transition to itself")

    def contribute_to_class(self, cls: type[models.Model], name: str) -> None:
        setattr(cls, name, self)
        if cls._meta.abstract:
            return
        self.model = cls
        _MACHINES[cls] = self

    def check(self) -> None:
        """Raise unless the declared states are exactly the status field's choices.

        Run on first use (the field may be declared after the machine in the class body).
        """
        assert self.model is not None  # nosec B101  # type narrowing, not a check
        field = self.model._meta.get_field(self.field)
        choices = {str(value) for value, _ in getattr(field, "choices", None) or ()}
        if choices != set(self.states):
            raise ValueError(
                f"{self.model.__name__} declares states {sorted(self.states)}, "
                f"but its {self.field} field allows {sorted(choices)}"
            )

    def allows(self, *, source: str, target: str) -> bool:
        """Whether ``source`` → ``target`` is a declared transition."""
        return target in self.transitions.get(source, frozenset())

    def sources_of(self, target: str) -> list[str]:
        """The states a row may be in to move to ``target``, in declaration order."""
        return [state for state in self.states if self.allows(source=state, target=target)]


def status_machines() -> Iterator[StatusMachine]:
    """Every declared machine (one per model), for tests and documentation."""
    return iter(list(_MACHINES.values()))


def status_machine_of(model: type[models.Model]) -> StatusMachine:
    try:
        machine = _MACHINES[model]
    except KeyError:
        raise LookupError(f"{model.__name__} declares no status machine") from None
    if model not in _CHECKED:
        machine.check()
        _CHECKED.add(model)
    return machine


@dataclass(frozen=True)
class StatusChange:
    """What a call to :func:`status_transition` did: ``moved`` is False for a no-op."""

    moved: bool
    old: str
    new: str


def _concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _column_value(field: models.Field[Any, Any], value: Any) -> Any:
    if isinstance(value, models.Model):
        value = value.pk
    return field.get_db_prep_save(value, connection)


def status_transition(
    *,
    instance: ModelT,
    to: str,
    actor: Any,
    action: str,
    fields: Mapping[str, Any] | None = None,
    changes: Mapping[str, list[Any]] | None = None,
    no_op_states: Collection[str] = (),
    error: Callable[[str], DomainError] | None = None,
    expected: Mapping[str, Any] | None = None,
    increment: Collection[str] = (),
) -> StatusChange:
    """Move ``instance`` to status ``to`` if its machine allows it from the current state.

    One conditional statement decides, so concurrent callers are refereed by the database:
    ``UPDATE … SET status = to, <fields> WHERE pk = … AND status IN (<states allowed to
    reach to>)``, locking the row (``FOR NO KEY UPDATE``, as any update does) and returning
    the state it left. On a move, the audit row (``actor``, ``action``,
    ``{"status": [old, to], **changes}``) is written in the same transaction and
    ``instance`` carries the new values. When the row is in one of ``no_op_states`` (e.g.
    already in ``to``, for an idempotent use case) nothing is written and ``instance`` is
    refreshed. Otherwise raises ``error(current_state)`` or ``InvalidStateError`` (409
    ``invalid_state``) and writes nothing. Must run inside the use case's transaction.
    ``fields`` holds plain values (a model instance stands for its primary key), not
    expressions.

    Optimistic locking: ``expected`` adds equality conditions to the same statement (e.g.
    ``{"version": 3}`` from an ``If-Match``); a row whose state allows the move but whose
    values differ raises 409 ``conflict`` and writes nothing. ``increment`` names integer
    columns the move adds one to (e.g. ``("version",)``), read back onto ``instance``.
    """
    require_transaction()
    model = type(instance)
    machine = status_machine_of(model)
    if to not in machine.states:
        raise ValueError(f"{to!r} is not a state of {model.__name__}")
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    pk_field = _concrete_field(model, meta.pk.name)
    pk_column = connection.ops.quote_name(str(pk_field.column))
    status_column = connection.ops.quote_name(str(_concrete_field(model, machine.field).column))
    updates: dict[str, Any] = {machine.field: to, **(fields or {})}
    assignments, params = [], []
    for name, value in updates.items():
        field = _concrete_field(model, name)
        assignments.append(f"{connection.ops.quote_name(str(field.column))} = %s")
        params.append(_column_value(field, value))
    for name in increment:
        column = connection.ops.quote_name(str(_concrete_field(model, name).column))
        assignments.append(f"{column} = t.{column} + 1")
    conditions, condition_params = [], []
    for name, value in (expected or {}).items():
        field = _concrete_field(model, name)
        conditions.append(f"AND t.{connection.ops.quote_name(str(field.column))} = %s")
        condition_params.append(_column_value(field, value))
    returned = "".join(
        f", t.{connection.ops.quote_name(str(_concrete_field(model, name).column))}"
        for name in increment
    )
    sources = machine.sources_of(to)
    moved_from: str | None = None
    row: Any = None
    if sources:
        placeholders = ", ".join(["%s"] * len(sources))
        # The subquery locks the row and reads the state it leaves (RETURNING would show
        # the new one); a caller that waited for a concurrent change sees its result.
        sql = (
            f"UPDATE {table} AS t SET {', '.join(assignments)} "  # noqa: S608  # nosec B608  # table and column names from the models; values are parameters
            f"FROM (SELECT {pk_column} AS pk, {status_column} AS old FROM {table} "
            f"WHERE {pk_column} = %s FOR NO KEY UPDATE) AS locked "
            f"WHERE t.{pk_column} = locked.pk AND locked.old IN ({placeholders}) "
            f"{' '.join(conditions)} RETURNING locked.old{returned}"
        )
        pk_value = pk_field.get_db_prep_value(instance.pk, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, pk_value, *sources, *condition_params])
            row = cursor.fetchone()
        moved_from = None if row is None else str(row[0])
    if moved_from is not None:
        assert row is not None  # nosec B101  # type narrowing, not a check
        for name, value in updates.items():
            setattr(instance, name, value)
        for name, value in zip(increment, row[1:], strict=True):
            setattr(instance, name, value)
        audit_record(
            actor=actor,
            action=action,
            target=instance,
            changes={machine.field: [moved_from, to], **(changes or {})},
        )
        return StatusChange(moved=True, old=moved_from, new=to)
    current = (
        model._default_manager.filter(pk=instance.pk).values_list(machine.field, flat=True).first()
    )
    if current is None:
        raise model.DoesNotExist(f"{model.__name__} {instance.pk} does not exist")  # type: ignore[attr-defined]
    if current in no_op_states:
        instance.refresh_from_db()
        return StatusChange(moved=False, old=current, new=current)
    if expected and current in sources:
        raise ConflictError(
            f"This {meta.verbose_name} was changed by someone else; read it again and retry.",
            current_status=current,
        )
    if error is not None:
        raise error(current)
    raise InvalidStateError(
        f"This {meta.verbose_name} is {current}; it cannot become {to}.",
        current_status=current,
        target_status=to,
    )
