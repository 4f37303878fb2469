"""Top-up writes: selling a phone charge, and the phone number registry.

Each public function is one use case with one transaction (``transaction.atomic()``, joined
by the idempotency layer's transaction when the request carries an ``Idempotency-Key``).
Money moves only through ``tally.ledger.services``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from tally.identity.models import User, VendorProfile
from tally.ledger import selectors as ledger_selectors
from tally.ledger import services as ledger
from tally.ledger.models import Account, AccountKind, TransferCode
from tally.platform.audit.services import audit_record
from tally.platform.exceptions import NotFoundError, PermissionDeniedError, VendorInactiveError
from tally.topups.exceptions import PhoneNumberInUseError, PhoneNumberTakenError
from tally.topups.lock_objects import phone_number_lock
from tally.topups.models import ChargeSale, PhoneNumber

# Registers a number or finds the registered one, in one statement. The existing row is
# locked FOR KEY SHARE (what the sale's foreign key check takes at commit anyway): sales of
# the same number never wait on each other, but a concurrent delete or renumbering waits
# for this sale, then sees it and refuses.
_PHONE_NUMBER_REGISTER_SQL = """
    WITH inserted AS (
        INSERT INTO topups_phonenumber (id, number, label, created_by_id, created_at)
        VALUES (%(id)s, %(number)s, '', %(created_by_id)s, %(now)s)
        ON CONFLICT (number) DO NOTHING
        RETURNING id, number, label, created_by_id, created_at
    )
    SELECT id, number, label, created_by_id, created_at FROM inserted
    UNION ALL
    SELECT id, number, label, created_by_id, created_at
      FROM (SELECT id, number, label, created_by_id, created_at
              FROM topups_phonenumber
             WHERE number = %(number)s
               FOR KEY SHARE) AS existing
    LIMIT 1
"""
# A number registered by a transaction that committed after our statement's snapshot is
# invisible to that statement; the next attempt (a new snapshot) sees it.
_PHONE_NUMBER_REGISTER_ATTEMPTS = 3


@dataclass(frozen=True)
class ChargeSaleResult:
    sale: ChargeSale
    # Minor units: the vendor's posted credit balance right after this sale's debit.
    remaining_credit_minor: int


def _phone_number_register(*, number: str, created_by_id: UUID, now: datetime) -> PhoneNumber:
    """Return the registered ``number``, registering it first if it is new.

    INSERT … ON CONFLICT DO NOTHING: concurrent first sales to one new number register it
    exactly once. Joins the caller's transaction.
    """
    params = {"id": uuid.uuid4(), "number": number, "created_by_id": created_by_id, "now": now}
    for _ in range(_PHONE_NUMBER_REGISTER_ATTEMPTS):
        found = list(PhoneNumber.objects.raw(_PHONE_NUMBER_REGISTER_SQL, params))
        if found:
            return found[0]
    raise RuntimeError(f"phone number {number} could be neither registered nor found")


def _sale_accounts(*, vendor: VendorProfile) -> tuple[Account, Account]:
    """(the vendor's credit account, the airtime settlement account).

    Both are looked up in one statement; only when one does not exist yet (a vendor never
    credited, a fresh database) do the ledger services create it.
    """
    credit_account: Account | None = None
    settlement_account: Account | None = None
    for account in Account.objects.filter(
        Q(owner_id=vendor.user_id, kind=AccountKind.VENDOR_CREDIT)
        | Q(owner__isnull=True, kind=AccountKind.AIRTIME_SETTLEMENT),
        currency=settings.TALLY_CURRENCY,
    ):
        if account.kind == AccountKind.VENDOR_CREDIT:
            credit_account = account
        else:
            settlement_account = account
    if credit_account is None:
        credit_account = ledger.account_get_or_create(
            owner=vendor.user, kind=AccountKind.VENDOR_CREDIT
        )
    if settlement_account is None:
        settlement_account = ledger.account_system(kind=AccountKind.AIRTIME_SETTLEMENT)
    return credit_account, settlement_account


@transaction.atomic
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

    Locks: the vendor's credit account row (by the ledger's conditional update, until
    commit), the phone number row FOR KEY SHARE, a shared advisory lock on the settlement
    account. Enqueues nothing.
    """
    if not vendor.is_active:
        raise VendorInactiveError()
    now = timezone.now()
    number = _phone_number_register(number=phone_number, created_by_id=vendor.user_id, now=now)
    credit_account, settlement_account = _sale_accounts(vendor=vendor)
    sale_id = uuid.uuid4()
    transfer = ledger.transfer_create(
        debit_account=credit_account,
        credit_account=settlement_account,
        amount_minor=amount_minor,
        code=TransferCode.CHARGE_SALE,
        reference=str(sale_id),
        now=now,
    )
    sale = ChargeSale.objects.create(
        id=sale_id,
        vendor=vendor,
        phone_number=number,
        amount=amount_minor,
        transfer=transfer,
        created_at=now,
    )
    # Our debit holds the account row until commit, so this is exactly the balance it left.
    remaining = ledger_selectors.account_balance(account=credit_account).balance
    return ChargeSaleResult(sale=sale, remaining_credit_minor=remaining)


# --- phone numbers ----------------------------------------------------------------------


@transaction.atomic
def phone_number_create(*, actor: User, number: str, label: str = "") -> PhoneNumber:
    """Register ``number`` (E.164) for an admin or a vendor; ``phone_number_taken`` if it is
    registered already (the unique constraint decides, also under concurrency).

    Locks nothing beyond the new row; enqueues nothing. Audited.
    """
    if not (actor.is_admin or actor.is_vendor):
        raise PermissionDeniedError("Only admins and vendors manage phone numbers.")
    try:
        with transaction.atomic():
            phone = PhoneNumber.objects.create(number=number, label=label, created_by=actor)
    except IntegrityError as exc:
        if PhoneNumber.objects.filter(number=number).exists():
            raise PhoneNumberTakenError() from exc
        raise
    audit_record(
        actor=actor,
        action="phone_number.created",
        target=phone,
        changes={"number": [None, number], "label": [None, label]},
    )
    return phone


@transaction.atomic
def phone_number_update(
    *, actor: User, phone_number: PhoneNumber, number: str, label: str
) -> PhoneNumber:
    """Replace a number's ``number`` (E.164) and ``label``.

    A number charges were sold to keeps its digits (409 ``conflict``): its sales must go on
    naming the number they were sold to. ``phone_number_taken`` if the new number is
    registered already. Locks the number's row (waiting for sales writing against it).
    Enqueues nothing. Audited when something changed.
    """
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


@transaction.atomic
def phone_number_delete(*, actor: User, phone_number: PhoneNumber) -> None:
    """Delete a number nothing was sold to; 409 ``conflict`` (nothing deleted) if charges
    were sold to it, even by a sale still committing (the row lock waits for it).

    Locks the number's row. Enqueues nothing. Audited.
    """
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
