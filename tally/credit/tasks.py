"""Celery discovers tasks here; they are defined with their services (outbox tasks)."""

from tally.credit.low_credit import low_credit_webhook
from tally.credit.services import credit_request_credit, customer_credit_execute

__all__ = ["credit_request_credit", "customer_credit_execute", "low_credit_webhook"]
