"""Partners' side of offers: every delivery attempt of a signed activation callback."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tally.offers.models import Activation


class CallbackAttempt(models.Model):
    """One POST of an activation's callback to its partner's ``callback_url``: what the
    partner answered (or why no answer came) and how long it took. Append-only."""

    activation = models.ForeignKey(
        Activation, on_delete=models.PROTECT, related_name="callback_attempts"
    )
    # 1 for the first delivery attempt of the callback job, then 2, 3, …
    attempt = models.PositiveIntegerField()
    url = models.CharField(max_length=500)
    # The partner's HTTP status; null when no answer came (refused, timed out).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # Empty on a 2xx answer; otherwise why the attempt failed.
    error = models.CharField(max_length=1000, blank=True)
    duration_ms = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["activation", "attempt"], name="callback_attempt_idx"),
        ]

    def __str__(self) -> str:
        return f"callback attempt {self.attempt} for {self.activation_id}"
