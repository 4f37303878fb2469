"""Celery task outcomes as a Prometheus counter, counted in the worker's processes.

``tally_celery_tasks_total{task,outcome}``: ``succeeded``, ``failed`` (raised and will not
be retried) or ``retried`` (raised and was scheduled again, e.g. an outbox handler backing
off). Counted by Celery's own signals, which fire in the process that ran the task; the
worker serves them on ``WORKER_METRICS_BIND`` (``worker_metrics``), or through a
``PROMETHEUS_MULTIPROC_DIR`` it shares with the web processes. Connected by
``config/celery.py``, so only processes that load the Celery app count.
"""

from __future__ import annotations

from typing import Any

from celery.signals import task_failure, task_retry, task_success
from prometheus_client import Counter

TASKS = Counter(
    "tally_celery_tasks_total",
    "Celery task runs by task name and outcome (succeeded, failed, retried).",
    ["task", "outcome"],
)


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or sender)


@task_success.connect(weak=False)
def _task_succeeded(sender: Any = None, **_: Any) -> None:
    TASKS.labels(_task_name(sender), "succeeded").inc()


@task_failure.connect(weak=False)
def _task_failed(sender: Any = None, **_: Any) -> None:
    TASKS.labels(_task_name(sender), "failed").inc()


@task_retry.connect(weak=False)
def _task_retried(sender: Any = None, **_: Any) -> None:
    TASKS.labels(_task_name(sender), "retried").inc()
