"""Ledger reads: balances, statements and transfers. Nothing here writes or locks."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from tally.ledger.balance_cache import balance_cache_read_through
from tally.ledger.models import Account, Entry, PendingStatus, Transfer, TransferKind
from tally.ledger.vocabulary import AccountKind
from tally.platform.exceptions import NotFoundError

_RESOLUTION_STATUS = {
    TransferKind.POST_PENDING: PendingStatus.POSTED,
    TransferKind.VOID_PENDING: PendingStatus.VOIDED,
    TransferKind.EXPIRE_PENDING: PendingStatus.EXPIRED,
}


@dataclass(frozen=True)
class AccountBalance:
    """An account's position in minor units. ``available`` = ``balance`` - ``pending``."""

    account_id: int
    currency: str
    balance: int
    pending: int
    available: int


_ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]
# Read endpoints and every sale find accounts by owner and kind: one plain statement.
_ACCOUNTS_BY_KIND_SQL = f"""
    SELECT {", ".join(f'"{f.column}"' for f in Account._meta.concrete_fields)}
      FROM {Account._meta.db_table}
     WHERE currency = %(currency)s
       AND ((owner_id = %(owner)s AND kind = %(kind)s)
            OR (owner_id IS NULL AND kind = %(system_kind)s))
"""  # noqa: S608  # nosec B608  # table and column names from the model; values are parameters


def account_pair_find(
    *,
    owner_id: UUID,
    kind: AccountKind | str,
    system_kind: AccountKind | str | None,
    currency: str | None = None,
) -> tuple[Account | None, Account | None]:
    """(the owner's account of ``kind``, the system account of ``system_kind``) in
    ``currency`` (default: Tally's), in one statement; None for one that does not exist
    yet (or when ``system_kind`` is None). Creates nothing."""
    owned: Account | None = None
    system: Account | None = None
    with connection.cursor() as cursor:
        cursor.execute(
            _ACCOUNTS_BY_KIND_SQL,
            {
                "currency": currency or settings.TALLY_CURRENCY,
                "owner": owner_id,
                "kind": str(kind),
                "system_kind": None if system_kind is None else str(system_kind),
            },
        )
        rows = cursor.fetchall()
    for row in rows:
        account = Account.from_db(connection.alias, _ACCOUNT_FIELDS, row)
        if account.is_system:
            system = account
        else:
            owned = account
    return owned, system


def account_find(
    *, owner_id: UUID, kind: AccountKind | str, currency: str | None = None
) -> Account | None:
    """The owner's account of ``kind`` in ``currency`` (default: Tally's), or None before
    its first movement. Creates nothing."""
    return account_pair_find(owner_id=owner_id, kind=kind, system_kind=None, currency=currency)[0]


def account_balance(*, account: Account) -> AccountBalance:
    """The account's current posted balance, pending debits and available amount.

    Owned accounts are read from their row. System accounts are derived in one statement
    (one snapshot): the rolled-up snapshot plus the entries after it, and the sum of the
    open pending transfers that debit it.
    """
    with connection.cursor() as cursor:
        if account.is_system:
            cursor.execute(
                """
                SELECT a.balance + coalesce((
                           SELECT sum(e.amount) FROM ledger_entry AS e
                            WHERE e.account_id = a.id AND e.id > a.rolled_up_to_entry_id
                       ), 0),
                       coalesce((
                           SELECT sum(t.amount) FROM ledger_transfer AS t
                            WHERE t.debit_account_id = a.id AND t.kind = 'pending'
                              AND NOT EXISTS (
                                  SELECT 1 FROM ledger_transfer AS r WHERE r.pending_id = t.id
                              )
                       ), 0)
                  FROM ledger_account AS a
                 WHERE a.id = %s
                """,
                [account.id],
            )
        else:
            cursor.execute(
                "SELECT balance, pending_debits FROM ledger_account WHERE id = %s", [account.id]
            )
        row = cursor.fetchone()
    if row is None:
        raise NotFoundError("No such ledger account.")
    balance, pending = int(row[0]), int(row[1])
    return AccountBalance(
        account_id=account.id,
        currency=account.currency,
        balance=balance,
        pending=pending,
        available=balance - pending,
    )


def account_balance_cached(*, account: Account) -> AccountBalance:
    """``account_balance`` for read endpoints: owned accounts go through the balance cache,
    which never serves a balance older than the last committed change (see balance_cache).
    Never use it inside a money transaction: that one must read its own writes."""
    if account.is_system:
        return account_balance(account=account)

    def load() -> tuple[int, int]:
        fresh = account_balance(account=account)
        return fresh.balance, fresh.pending

    balance, pending = balance_cache_read_through(account_id=account.id, load=load)
    return AccountBalance(
        account_id=account.id,
        currency=account.currency,
        balance=balance,
        pending=pending,
        available=balance - pending,
    )


def owner_balance(
    *, owner_id: UUID, kind: AccountKind | str, currency: str | None = None
) -> AccountBalance:
    """The owner's balance in its account of ``kind`` for read endpoints (through the
    balance cache); all zero before the account's first movement (reads create nothing)."""
    account = account_find(owner_id=owner_id, kind=kind, currency=currency)
    if account is None:
        return AccountBalance(
            account_id=0,
            currency=currency or settings.TALLY_CURRENCY,
            balance=0,
            pending=0,
            available=0,
        )
    return account_balance_cached(account=account)


def owner_entries(
    *, owner_id: UUID, kind: AccountKind | str, currency: str | None = None
) -> QuerySet[Entry]:
    """The entries of the owner's account of ``kind``, with their transfers, for a statement
    (keyset-paginate by ``-id``: the (account, -id) index serves any page alike)."""
    accounts = Account.objects.filter(
        owner_id=owner_id, kind=str(kind), currency=currency or settings.TALLY_CURRENCY
    )
    return Entry.objects.filter(account__in=accounts.values("id")).select_related("transfer")


def kind_entries(*, kind: AccountKind | str, owner_id: UUID | None = None) -> QuerySet[Entry]:
    """The entries of every owned account of ``kind`` (admins' cross-owner history),
    optionally of one owner's, with their transfers and accounts (paginate by ``-id``)."""
    entries = Entry.objects.filter(
        account__kind=str(kind), account__owner__isnull=False
    ).select_related("transfer", "account")
    if owner_id is not None:
        entries = entries.filter(account__owner_id=owner_id)
    return entries


def transfer_pending_status(*, transfer: Transfer) -> PendingStatus:
    """Open until a post_pending, void_pending or expire_pending transfer resolves it;
    derived, never stored."""
    if transfer.kind != TransferKind.PENDING:
        raise ValueError("only pending transfers have a pending status")
    kind = Transfer.objects.filter(pending_id=transfer.id).values_list("kind", flat=True).first()
    return PendingStatus.OPEN if kind is None else _RESOLUTION_STATUS[TransferKind(kind)]
