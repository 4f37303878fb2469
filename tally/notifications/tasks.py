"""Celery discovers tasks here; they are defined with their services (outbox call-out jobs)."""

from tally.notifications.services import notification_deliver

__all__ = ["notification_deliver"]
