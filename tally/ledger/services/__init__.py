"""Ledger writes. The only code in Tally that changes a balance.

Every function here joins its caller's transaction (``require_transaction``) and never
opens one: the use case that moves money owns exactly one transaction, so the movement
commits together with the business record that caused it.

- ``accounts``: open or find accounts (kinds registered by the features), roll up system
  accounts.
- ``transfers``: immediate transfers, pending transfers and their post, void and expiry.
- ``posting``: the one core every transfer goes through (one SQL statement per transfer,
  see its docstring for the locking and the floor).

Nothing here enqueues a job or writes an audit event: the calling use case does both.
"""

from tally.ledger.services.accounts import account_get_or_create, account_roll_up, account_system
from tally.ledger.services.posting import (
    SYSTEM_ACCOUNT_LOCK_CLASS,
    LedgerInconsistencyError,
    TransferResult,
    system_lock_key,
)
from tally.ledger.services.transfers import (
    transfer_create,
    transfer_create_pending,
    transfer_expire_overdue,
    transfer_expire_pending,
    transfer_post_pending,
    transfer_void_pending,
)

__all__ = [
    "SYSTEM_ACCOUNT_LOCK_CLASS",
    "LedgerInconsistencyError",
    "TransferResult",
    "account_get_or_create",
    "account_roll_up",
    "account_system",
    "system_lock_key",
    "transfer_create",
    "transfer_create_pending",
    "transfer_expire_overdue",
    "transfer_expire_pending",
    "transfer_post_pending",
    "transfer_void_pending",
]
