"""Ledger accounts: find or open one, and fold a system account's entries into its snapshot."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from tally.identity.models import User
from tally.ledger.models import Account
from tally.ledger.services.posting import SYSTEM_ACCOUNT_LOCK_CLASS, system_lock_key
from tally.ledger.vocabulary import AccountKind, account_kind_get
from tally.platform.db import require_transaction


def account_get_or_create(
    *, owner: User, kind: AccountKind | str, currency: str | None = None
) -> Account:
    """Return the owner's account of ``kind`` in ``currency``, creating it (balance 0) if needed.

    ``kind`` must be a registered owned kind; floored as its registration says. Safe under
    concurrency: the unique constraint on (owner, kind, currency) decides, and a loser gets
    the winner's row. Locks nothing; enqueues nothing.
    """
    require_transaction()
    spec = account_kind_get(kind)
    if not spec.owned:
        raise ValueError(f"{spec} is a system account kind; use account_system()")
    account, _ = Account.objects.get_or_create(
        owner=owner,
        kind=spec.value,
        currency=currency or settings.TALLY_CURRENCY,
        defaults={"floored": spec.floored},
    )
    return account


def account_system(*, kind: AccountKind | str, currency: str | None = None) -> Account:
    """Return the single system account of ``kind`` in ``currency``, creating it if needed.

    ``kind`` must be a registered system kind. System accounts are unfloored and have no
    owner. Locks nothing; enqueues nothing.
    """
    require_transaction()
    spec = account_kind_get(kind)
    if spec.owned:
        raise ValueError(f"{spec} is an owned account kind; use account_get_or_create()")
    account, _ = Account.objects.get_or_create(
        owner=None,
        kind=spec.value,
        currency=currency or settings.TALLY_CURRENCY,
        defaults={"floored": False},
    )
    return account


def account_roll_up(*, account: Account, now: datetime | None = None) -> int:
    """Fold a system account's entries written since its last roll-up into its snapshot.

    Afterwards ``balance`` covers every entry up to ``rolled_up_to_entry_id``; the live
    balance (snapshot + later entries) is unchanged. Returns how many entries were folded.

    Locks the account's advisory lock exclusively, which waits for the transfers appending
    to it right now and holds new ones back until the caller commits, so no entry below the
    new cut can still be uncommitted. Keep the caller's transaction short and bound the
    wait with ``lock_timeout`` (the beat task does). Enqueues nothing.
    """
    require_transaction()
    if not account.is_system:
        raise ValueError("only system accounts are rolled up; owned accounts are live")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [SYSTEM_ACCOUNT_LOCK_CLASS, system_lock_key(account.id)],
        )
        # One statement, one snapshot: the sum and the cut it covers are read together.
        cursor.execute(
            """
            UPDATE ledger_account AS a
               SET balance = a.balance + d.total,
                   rolled_up_to_entry_id = d.last_id,
                   rolled_up_at = %s
              FROM (
                    SELECT coalesce(sum(e.amount), 0) AS total,
                           max(e.id) AS last_id,
                           count(*) AS entries
                      FROM ledger_entry AS e
                      JOIN ledger_account AS x ON x.id = e.account_id
                     WHERE e.account_id = %s AND e.id > x.rolled_up_to_entry_id
                   ) AS d
             WHERE a.id = %s AND d.last_id IS NOT NULL
            RETURNING d.entries
            """,
            [now or timezone.now(), account.id, account.id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0
