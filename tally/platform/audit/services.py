from __future__ import annotations

from typing import Any

from django.db import models

from tally.platform.audit.models import AuditEvent
from tally.platform.db import require_transaction


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write an audit event in the caller's transaction. ``changes`` maps field -> [old, new]."""
    require_transaction()
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        changes=changes or {},
    )
