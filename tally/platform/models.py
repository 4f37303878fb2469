"""Platform models, defined next to their modules and collected here for Django."""

from tally.platform.audit.models import AuditEvent
from tally.platform.idempotency.models import IdempotencyRecord
from tally.platform.outbox.models import OutboxMessage, ProcessedMessage

__all__ = ["AuditEvent", "IdempotencyRecord", "OutboxMessage", "ProcessedMessage"]
