"""Row locks of the topups app. The only place here that calls ``select_for_update``."""

from __future__ import annotations

from uuid import UUID

from tally.platform.db import require_transaction
from tally.topups.models import PhoneNumber


def phone_number_lock(*, phone_number_id: UUID) -> PhoneNumber | None:
    """Lock one phone number row for a change of its key (renumber) or its deletion.

    ``FOR UPDATE`` waits for sales still writing against the number (they hold ``FOR KEY
    SHARE`` on it), so a sale committed meanwhile is visible to the check that follows.
    One row per transaction, so there is no lock order to keep. None if it no longer exists.
    """
    require_transaction()
    return PhoneNumber.objects.select_for_update(of=("self",)).filter(pk=phone_number_id).first()
