"""Celery discovers tasks here; both are declared with their services (outbox jobs)."""

from tally.invoices.services import invoice_issue_job, invoice_render

__all__ = ["invoice_issue_job", "invoice_render"]
