"""Race and lock helpers for concurrency tests against the real database.

Use them from tests marked ``@pytest.mark.django_db(transaction=True)`` (each thread has
its own connection and sees only committed rows)::

    # N callers released at the same instant; results (or exceptions) in caller order
    outcomes = run_concurrently(lambda: client_for_thread().post(url), times=20)
    assert sorted(o.value.status_code for o in outcomes) == [201] + [409] * 19

    # a transaction held open by another connection while the test acts
    with transaction_held(lambda: Account.objects.select_for_update().get(pk=pk)) as held:
        waiter = threading.Thread(target=transfer)
        waiter.start()
        backend = lock_wait_for(timeout_seconds=10)   # some backend now waits on a lock
    waiter.join()

    wait_until(lambda: job.refresh_from_db() or job.done, timeout_seconds=15)

No fixed sleeps: every wait polls an observable condition with a deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connection, transaction

T = TypeVar("T")

POLL_SECONDS = 0.02
DEFAULT_TIMEOUT_SECONDS = 15.0


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    message: str = "condition not met in time",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; return it. Fails the test
    (AssertionError with ``message``) after ``timeout_seconds``."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(POLL_SECONDS)


def backend_pid() -> int:
    """The PostgreSQL backend process id of this thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _lock_waiters(backend: int | None) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() "
            "AND (%s::int IS NULL OR pid = %s::int) ORDER BY pid",
            [backend, backend],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def lock_wait_for(
    *, backend: int | None = None, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> int:
    """Wait until ``backend`` (or, when None, any other backend of this database) waits on
    a lock in ``pg_stat_activity``; return that backend's pid."""
    waiters = wait_until(
        lambda: _lock_waiters(backend),
        timeout_seconds=timeout_seconds,
        message=f"no backend ({backend or 'any'}) waited on a lock",
    )
    return int(waiters[0])


def transactions_open(*, exclude: Sequence[int] = ()) -> list[dict[str, Any]]:
    """Other backends of this database with a transaction open right now (pid, state,
    query), e.g. to prove that nothing holds one while an outside system is called."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND NOT (pid = ANY(%s))",
            [list(exclude)],
        )
        return [{"pid": pid, "state": state, "query": query} for pid, state, query in cursor]


@dataclass
class HeldTransaction(Generic[T]):
    """A transaction another thread keeps open: its backend pid and what ``work`` returned."""

    backend: int
    value: T


@contextlib.contextmanager
def transaction_held(
    work: Callable[[], T], *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> Iterator[HeldTransaction[T]]:
    """Run ``work`` in a transaction in another thread and keep it open (with whatever locks
    ``work`` took) until the block exits; then commit it (roll back if the block raised).

    ``work``'s exception, if any, is raised here; so is one at commit.
    """
    ready, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    rollback = threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                outcome["backend"] = backend_pid()
                outcome["value"] = work()
                ready.set()
                if not release.wait(timeout_seconds * 4):
                    raise TimeoutError("transaction_held was never released")
                if rollback.is_set():
                    transaction.set_rollback(True)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            ready.set()
            connection.close()

    thread = threading.Thread(target=hold, name="transaction-held", daemon=True)
    thread.start()
    if not ready.wait(timeout_seconds):
        raise AssertionError("the held transaction did not start in time")
    if "error" in outcome:
        thread.join(timeout_seconds)
        raise outcome["error"]
    try:
        yield HeldTransaction(backend=outcome["backend"], value=outcome["value"])
    except BaseException:
        rollback.set()
        raise
    finally:
        release.set()
        thread.join(timeout_seconds)
    if "error" in outcome:
        raise outcome["error"]


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one concurrent caller returned, or the exception it raised."""

    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_concurrently(
    *callers: Callable[[], T],
    times: int = 1,
    timeout_seconds: float = 60.0,
) -> list[Outcome[T]]:
    """Start every caller at the same instant (a barrier) in its own thread; return their
    outcomes in caller order. With one caller and ``times=N``, run it N times at once.

    Each thread closes its database connection when done, so none leaks into the pool.
    """
    functions: list[Callable[[], T]] = list(callers) * times
    barrier = threading.Barrier(len(functions))
    outcomes: list[Outcome[T] | None] = [None] * len(functions)

    def run(index: int, function: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout_seconds)
            outcomes[index] = Outcome(value=function())
        except BaseException as exc:
            outcomes[index] = Outcome(error=exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(index, function), name=f"concurrent-{index}")
        for index, function in enumerate(functions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_seconds)
        if thread.is_alive():
            raise AssertionError(f"{thread.name} did not finish in {timeout_seconds} s")
    return [outcome or Outcome(error=RuntimeError("no outcome")) for outcome in outcomes]
