"""The real SMTP server fixture of the notification tests, for the low-credit alert's email."""

from tally.notifications.tests.conftest import smtp

__all__ = ["smtp"]
