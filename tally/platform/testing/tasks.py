"""Observe a Celery worker running in this test process (the ``celery_worker`` fixture), so a
test waits for "every delivery was handled" instead of sleeping and hoping::

    with task_runs_counted("tally.credit.credit_request_credit") as runs:
        ...send 5 deliveries...
        runs.wait_for(5)
    assert processed_count == 1
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from celery.signals import task_postrun

from tally.platform.testing.race import DEFAULT_TIMEOUT_SECONDS, wait_until


class TaskRuns:
    """How many times tasks of one name finished (successfully or not) in this process."""

    def __init__(self, task_name: str) -> None:
        self.task_name = task_name
        self.count = 0
        self._lock = threading.Lock()

    def record(self, sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "name", None) == self.task_name:
            with self._lock:
                self.count += 1

    def wait_for(self, count: int, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        """Wait until at least ``count`` runs have finished."""
        wait_until(
            lambda: self.count >= count,
            timeout_seconds=timeout_seconds,
            message=f"{self.task_name} finished {self.count} of {count} runs",
        )


@contextlib.contextmanager
def task_runs_counted(task_name: str) -> Iterator[TaskRuns]:
    runs = TaskRuns(task_name)
    task_postrun.connect(runs.record, weak=False)
    try:
        yield runs
    finally:
        task_postrun.disconnect(runs.record)
