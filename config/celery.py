"""The Celery application: worker and beat run `celery -A config worker|beat`."""

import os

from celery import Celery
from celery.signals import worker_init

# Task outcomes (tally_celery_tasks_total), counted by Celery's signals in every worker.
import tally.platform.celery_metrics  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.local")

app = Celery("tally")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["tally.platform.outbox", "tally.platform.idempotency"])
app.autodiscover_tasks(["tally.ledger"], related_name="verification_periodic")


@worker_init.connect
def worker_metrics_start(**_: object) -> None:
    """With WORKER_METRICS_BIND set, the worker's main process serves the metrics its jobs
    count (tally.platform.worker_metrics; docs/deploy.md#metrics-and-dashboards)."""
    bind = os.environ.get("WORKER_METRICS_BIND", "")
    if bind:
        from tally.platform.worker_metrics import worker_metrics_serve

        worker_metrics_serve(bind=bind)
