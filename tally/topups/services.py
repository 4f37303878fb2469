"""Top-up writes: selling a phone charge, and the phone number registry.

Each public function is one use case with one transaction (``use_case``: its own, or joined
by the idempotency layer's transaction when the request carries an ``Idempotency-Key``).
Money moves only through ``tally.ledger.services``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tally.credit.ledger_vocabulary import VENDOR_PREPAID
from tally.credit.low_credit import low_credit_alert_enqueue
from tally.identity.exceptions import VendorInactiveError
from tally.identity.models import User, VendorProfile
from tally.identity.services import actor_require_admin_or_active_vendor
from tally.ledger import selectors as ledger_selectors
from tally.ledger import services as ledger
from tally.ledger.exceptions import InsufficientFundsError
from tally.ledger.metrics import insufficient_funds_count
from tally.ledger.models import Account
from tally.platform.audit.services import audit_record
from tally.platform.db import use_case, use_case_transaction
from tally.platform.exceptions import NotFoundError, PermissionDeniedError
from tally.topups.exceptions import PhoneNumberInUseError, PhoneNumberTakenError
from tally.topups.ledger_vocabulary import AIRTIME_SETTLEMENT, CHARGE_SALE
from tally.topups.lock_objects import phone_number_lock
from tally.topups.models import ChargeSale, PhoneNumber

# Records a sale, registering its number if new, in one statement. The number's existing
# row is locked FOR KEY SHARE (what the sale's foreign key check takes anyway): sales of
# the same number never wait on each other, but a concurrent delete or renumbering waits
# for this sale, then sees it and refuses.
_SALE_INSERT_SQL = """
    WITH inserted AS (
        INSERT INTO topups_phonenumber (id, number, label, created_by_id, created_at)
        VALUES (%(phone_id)s, %(number)s, '', %(vendor)s, %(now)s)
        ON CONFLICT (number) DO NOTHING
        RETURNING id, number, label, created_by_id, created_at
    ), phone AS (
        SELECT id, number, label, created_by_id, created_at FROM inserted
        UNION ALL
        SELECT id, number, label, created_by_id, created_at
          FROM (SELECT id, number, label, created_by_id, created_at
                  FROM topups_phonenumber
                 WHERE number = %(number)s
                   FOR KEY SHARE) AS existing
        LIMIT 1
    ), sale AS (
        INSERT INTO topups_chargesale (id, vendor_id, phone_number_id, amount, transfer_id,
                                       created_at)
        SELECT %(id)s, %(vendor)s, phone.id, %(amount)s, %(transfer)s, %(now)s FROM phone
        RETURNING phone_number_id
    )
    SELECT phone.id, phone.number, phone.label, phone.created_by_id, phone.created_at
      FROM phone JOIN sale ON sale.phone_number_id = phone.id
"""
# A number registered by a transaction that committed after our statement's snapshot is
# invisible to that statement (no row back, nothing written); the next attempt, with a new
# snapshot, sees it.
_SALE_INSERT_ATTEMPTS = 3


@dataclass(frozen=True)
class ChargeSaleResult:
    sale: ChargeSale
    # Minor units: the vendor's posted credit balance right after this sale's debit.
    remaining_credit_minor: int


_PHONE_NUMBER_COLUMNS = ["id", "number", "label", "created_by_id", "created_at"]


def _sale_insert(
    *,
    sale_id: UUID,
    vendor_id: UUID,
    number: str,
    amount_minor: int,
    transfer_id: UUID,
    now: datetime,
) -> PhoneNumber:
    """Insert the sale row, registering ``number`` first if it is new (exactly once, however
    many sales race for it); return the number's row. Joins the caller's transaction."""
    params: dict[str, Any] = {
        "phone_id": uuid.uuid4(),
        "number": number,
        "id": sale_id,
        "vendor": vendor_id,
        "amount": amount_minor,
        "transfer": transfer_id,
        "now": now,
    }
    with connection.cursor() as cursor:
        for _ in range(_SALE_INSERT_ATTEMPTS):
            cursor.execute(_SALE_INSERT_SQL, params)
            row = cursor.fetchone()
            if row is not None:
                return PhoneNumber.from_db(connection.alias, _PHONE_NUMBER_COLUMNS, row)
    raise RuntimeError(f"phone number {number} could be neither registered nor found")


def charge_sale_create(
    *, vendor: VendorProfile, phone_number: str, amount_minor: int
) -> ChargeSaleResult:
    """Sell a phone charge of ``amount_minor`` to ``phone_number`` (E.164) as ``vendor``.

    Guarantees, all in one transaction: the number is registered if new (once, however
    many sales race for it); the vendor's credit is debited by exactly the amount and the
    airtime settlement account credited (ledger transfer, code ``charge_sale``, reference =
    the sale id); the sale is recorded. Refuses an inactive vendor (``vendor_inactive``) and
    a sale the vendor's available credit does not cover (``insufficient_funds``); then
    nothing at all is written. The sale row with its transfer is the audit trail of a sale
    (who, what, when), so no separate audit event is written on this hot path.

    Three statements, in plain SQL because every sale pays for them (docs/benchmarks.md):
    find the two accounts; the ledger transfer (one statement); the sale row with the
    number's registration (one statement).

    Runs in its use case's transaction (``use_case_transaction``): its own, or its caller's
    joined without a savepoint, since a refused sale has written nothing (the ledger
    statement refuses before any row is written). Only the very first sale, which creates
    the settlement account before its transfer, takes a savepoint.

    Locks: the vendor's prepaid account row (by the ledger's conditional update, until
    commit), the phone number row FOR KEY SHARE, a shared advisory lock on the settlement
    account. Enqueues the vendor's low-credit alert (email, webhook) only when this sale
    takes its credit from at or above its threshold to below it (``tally.credit.low_credit``).
    """
    if not vendor.is_active:
        raise VendorInactiveError()
    prepaid_account, settlement_account = ledger_selectors.account_pair_find(
        owner_id=vendor.user_id,
        kind=VENDOR_PREPAID,
        system_kind=AIRTIME_SETTLEMENT,
    )
    if prepaid_account is None:
        # Never credited: nothing to spend (amounts are positive), and nothing is created.
        insufficient_funds_count(code=CHARGE_SALE)
        raise InsufficientFundsError()
    with use_case_transaction(refusals_write_nothing=settlement_account is not None):
        if settlement_account is None:
            settlement_account = ledger.account_system(kind=AIRTIME_SETTLEMENT)
        return _charge_sale_write(
            vendor=vendor,
            phone_number=phone_number,
            amount_minor=amount_minor,
            prepaid_account=prepaid_account,
            settlement_account=settlement_account,
        )


def _charge_sale_write(
    *,
    vendor: VendorProfile,
    phone_number: str,
    amount_minor: int,
    prepaid_account: Account,
    settlement_account: Account,
) -> ChargeSaleResult:
    now = timezone.now()
    sale_id = uuid.uuid4()
    posted = ledger.transfer_create(
        debit_account=prepaid_account,
        credit_account=settlement_account,
        amount_minor=amount_minor,
        code=CHARGE_SALE,
        reference=str(sale_id),
        now=now,
    )
    phone = _sale_insert(
        sale_id=sale_id,
        vendor_id=vendor.user_id,
        number=phone_number,
        amount_minor=amount_minor,
        transfer_id=posted.transfer.id,
        now=now,
    )
    # The row as the statement wrote it; its relations are the objects already in hand.
    sale = ChargeSale.from_db(
        connection.alias,
        ["id", "vendor_id", "phone_number_id", "amount", "transfer_id", "created_at"],
        [sale_id, vendor.user_id, phone.id, amount_minor, posted.transfer.id, now],
    )
    sale.vendor, sale.phone_number, sale.transfer = vendor, phone, posted.transfer
    # Our debit holds the account row until commit, so this is exactly the balance it left.
    remaining_minor = posted.balances_after[prepaid_account.id]
    # Low-credit alert (tally.credit.low_credit): only a sale that takes the credit from at
    # or above the vendor's threshold to below it; integers in hand, no query otherwise.
    threshold_minor = vendor.low_credit_threshold
    if threshold_minor and remaining_minor < threshold_minor <= remaining_minor + amount_minor:
        low_credit_alert_enqueue(
            vendor=vendor,
            account=prepaid_account,
            transfer=posted.transfer,
            balance_after_minor=remaining_minor,
        )
    return ChargeSaleResult(sale=sale, remaining_credit_minor=remaining_minor)


# --- phone numbers ----------------------------------------------------------------------


@use_case
def phone_number_create(*, actor: User, number: str, label: str = "") -> PhoneNumber:
    """Register ``number`` (E.164) for an admin or an active vendor (``created_by`` =
    ``actor``); ``phone_number_taken`` if it is registered already (the unique constraint
    decides, also under concurrency).

    Refuses customers and partners (403) and inactive vendors (422 ``vendor_inactive``);
    nothing is written then. Locks nothing beyond the new row; enqueues nothing. Audited.
    """
    actor_require_admin_or_active_vendor(actor=actor)
    try:
        with transaction.atomic():
            phone_number = PhoneNumber.objects.create(number=number, label=label, created_by=actor)
    except IntegrityError as exc:
        if PhoneNumber.objects.filter(number=number).exists():
            raise PhoneNumberTakenError() from exc
        raise
    audit_record(
        actor=actor,
        action="phone_number.created",
        target=phone_number,
        changes={"number": [None, number], "label": [None, label]},
    )
    return phone_number


def _phone_number_require_editor(*, actor: User, phone_number: PhoneNumber) -> None:
    """Only an admin or the number's registrant changes it (403; a number's registrant never
    changes), and only while active (422 ``vendor_inactive``)."""
    if not actor.is_admin and phone_number.created_by_id != actor.id:
        raise PermissionDeniedError("Only whoever registered this number may change it.")
    actor_require_admin_or_active_vendor(actor=actor)


@use_case
def phone_number_update(
    *, actor: User, phone_number: PhoneNumber, number: str, label: str
) -> PhoneNumber:
    """Replace a number's ``number`` (E.164) and ``label``, for an admin or the active vendor
    that registered it (403 for anyone else, 422 ``vendor_inactive`` for an inactive vendor).

    A number charges were sold to keeps its digits (409 ``conflict``): its sales must go on
    naming the number they were sold to. ``phone_number_taken`` if the new number is
    registered already. Nothing is written on a refusal. Locks the number's row (waiting for
    sales writing against it). Enqueues nothing. Audited when something changed.
    """
    _phone_number_require_editor(actor=actor, phone_number=phone_number)
    locked = phone_number_lock(phone_number_id=phone_number.id)
    if locked is None:
        raise NotFoundError("No such phone number.")
    changes: dict[str, list[str]] = {}
    if number != locked.number:
        if ChargeSale.objects.filter(phone_number_id=locked.id).exists():
            raise PhoneNumberInUseError()
        changes["number"] = [locked.number, number]
    if label != locked.label:
        changes["label"] = [locked.label, label]
    if not changes:
        return locked
    locked.number, locked.label = number, label
    try:
        with transaction.atomic():
            locked.save(update_fields=list(changes))
    except IntegrityError as exc:
        raise PhoneNumberTakenError() from exc
    audit_record(actor=actor, action="phone_number.updated", target=locked, changes=changes)
    return locked


@use_case
def phone_number_delete(*, actor: User, phone_number: PhoneNumber) -> None:
    """Delete a number nothing was sold to, for an admin or the active vendor that
    registered it (403 for anyone else, 422 ``vendor_inactive`` for an inactive vendor);
    409 ``conflict`` (nothing deleted) if charges were sold to it, even by a sale still
    committing (the row lock waits for it).

    Locks the number's row. Enqueues nothing. Audited.
    """
    _phone_number_require_editor(actor=actor, phone_number=phone_number)
    locked = phone_number_lock(phone_number_id=phone_number.id)
    if locked is None:
        raise NotFoundError("No such phone number.")
    if ChargeSale.objects.filter(phone_number_id=locked.id).exists():
        raise PhoneNumberInUseError()
    audit_record(
        actor=actor,
        action="phone_number.deleted",
        target=locked,
        changes={"number": [locked.number, None], "label": [locked.label, None]},
    )
    locked.delete()
