"""Celery discovers tasks here; they are defined with their services (outbox tasks)."""

from tally.credit.services import credit_request_credit, customer_credit_execute

__all__ = ["credit_request_credit", "customer_credit_execute"]
