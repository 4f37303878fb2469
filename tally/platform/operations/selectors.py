"""Status of asynchronous operations (``GET operations/{id}/``), whichever app runs them.

An app that answers 202 for work a job finishes later registers its operation kind once,
with the one guarded lookup that finds an operation for a caller (in its ``AppConfig.ready``)::

    operation_kind_register(kind="activation", lookup=activation_operation_find_for_actor)

The lookup takes the caller and the id and returns an :class:`Operation`, or ``None`` when
the id is not one of its operations or the caller may not see it; the endpoint answers 404
in both cases, so another user's operation is indistinguishable from a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from tally.platform.exceptions import NotFoundError


@dataclass(frozen=True)
class Operation:
    """One async operation as its status resource shows it.

    ``details`` holds the kind's own fields (amounts already formatted for the API), shown
    next to the common ones; ``links`` maps a relation name to a URL path.
    """

    id: UUID
    kind: str
    status: str
    created_at: datetime
    completed_at: datetime | None = None
    failure_code: str = ""
    failure_detail: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)


OperationLookup = Callable[[Any, UUID], Operation | None]

_LOOKUPS: dict[str, OperationLookup] = {}


def operation_kind_register(*, kind: str, lookup: OperationLookup) -> None:
    """Register the guarded lookup of one operation kind (once, at start-up)."""
    if _LOOKUPS.get(kind, lookup) is not lookup:
        raise ValueError(f"operation kind {kind!r} is already registered")
    _LOOKUPS[kind] = lookup


def operation_kinds() -> list[str]:
    return sorted(_LOOKUPS)


def operation_location(*, operation_id: UUID) -> str:
    """The status resource of an operation (the 202 answer's ``Location``)."""
    return f"/api/v1/operations/{operation_id}/"


def operation_get_for_actor(*, actor: Any, operation_id: UUID) -> Operation:
    """The operation ``operation_id`` if its kind's lookup lets ``actor`` see it.

    Asks each registered kind in turn (operation ids are UUIDs, unique across kinds).
    Raises ``NotFoundError`` when none does. Reads only.
    """
    for lookup in _LOOKUPS.values():
        operation = lookup(actor, operation_id)
        if operation is not None:
            return operation
    raise NotFoundError("No such operation.")
