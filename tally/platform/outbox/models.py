from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """A job written in the same transaction as the change that causes it.

    Published to Celery right after commit; the sweeper re-publishes it until a worker has
    processed it, so a crash between commit and publish, or a lost broker message, loses
    nothing.
    """

    id = models.BigAutoField(primary_key=True)
    task_name = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Call-out jobs only (outbox_callout_task): claims made so far, 1 for the first.
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Until then the latest claim owns the job (or the next try waits, after a failure);
    # from then on the reconciler republishes a job that is still not settled.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    # Set with processed_at when the job gave up after its last attempt (terminal failure).
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_unprocessed_idx",
                condition=models.Q(processed_at__isnull=True),
            ),
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_claimed_unsettled_idx",
                condition=models.Q(processed_at__isnull=True, claimed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_name}#{self.id}"


class ProcessedMessage(models.Model):
    """Marks an outbox message as done; inserted in the same transaction as the task's effect.

    Its primary key makes a redelivered or concurrently delivered task a no-op: the second
    insert waits for the first transaction, then conflicts and skips.
    """

    message = models.OneToOneField(OutboxMessage, on_delete=models.CASCADE, primary_key=True)
    processed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"processed #{self.message_id}"
