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

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_unprocessed_idx",
                condition=models.Q(processed_at__isnull=True),
            )
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
