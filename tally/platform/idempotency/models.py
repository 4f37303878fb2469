from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """The stored outcome of an unsafe request sent with an ``Idempotency-Key``.

    Written in the same transaction as the request's effect, so a record exists exactly
    when the effect committed. Only successful (2xx) outcomes are stored: a failed attempt
    rolled back and left nothing to replay.
    """

    id = models.BigAutoField(primary_key=True)
    # Whose key: "user:<uuid>" for signed-in callers, "anonymous" otherwise.
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2000)
    # SHA-256 of method, path and canonical body; a different request under the same key is refused.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.BinaryField()
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
