"""The double-entry ledger: accounts, transfers and their entries (TigerBeetle's vocabulary).

Sign convention: an account's balance is credits minus debits, from its holder's point of
view. A credit entry is positive, a debit entry negative; every posting transfer writes one
of each, so the entries of the whole ledger, and therefore all balances, sum to zero.

All amounts are integers of minor units (cents). Rows here are written only by
``tally.ledger.services``; transfers and entries are append-only (a database trigger
refuses UPDATE and DELETE, see migration 0002).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from tally.ledger.vocabulary import ACCOUNT_KIND_PATTERN, TRANSFER_CODE_PATTERN


def default_currency() -> str:
    return str(settings.TALLY_CURRENCY)


class Account(models.Model):
    """A ledger account. Never a user account: that is ``identity.User``.

    Owned accounts (``owner`` set) keep their live ``balance`` and ``pending_debits`` in this
    row, changed only by conditional updates in the transfer services. System accounts
    (``owner`` null) are never updated by a transfer: ``balance`` is a snapshot that covers
    their entries up to ``rolled_up_to_entry_id``; their live balance is that snapshot plus
    the sum of their later entries (``selectors.account_balance``).
    """

    # Ascending id is the lock order for transfers that update two owned rows.
    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
    )
    # A kind registered by the feature that keeps such accounts (tally.ledger.vocabulary).
    kind = models.CharField(max_length=32)
    currency = models.CharField(max_length=3, default=default_currency)
    # Floored accounts can never have balance - pending_debits < 0 (CHECK below).
    floored = models.BooleanField()
    # Minor units. Owned: live posted balance. System: snapshot as of rolled_up_to_entry_id.
    balance = models.BigIntegerField(default=0)
    # Minor units reserved by open pending transfers that debit this account (owned only;
    # for system accounts it is derived from the open pending transfers and stays 0 here).
    pending_debits = models.BigIntegerField(default=0)
    # System accounts only: the last entry id included in ``balance``; 0 for owned ones.
    rolled_up_to_entry_id = models.BigIntegerField(default=0)
    rolled_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__regex=ACCOUNT_KIND_PATTERN),
                name="ledger_account_kind_format",
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"),
                name="ledger_account_currency_format",
            ),
            # System accounts are off the hot path, so nothing may depend on their row.
            models.CheckConstraint(
                condition=models.Q(owner__isnull=False) | models.Q(floored=False, pending_debits=0),
                name="ledger_account_system_unfloored",
            ),
            models.CheckConstraint(
                condition=models.Q(owner__isnull=True) | models.Q(rolled_up_to_entry_id=0),
                name="ledger_account_owned_not_rolled_up",
            ),
            models.CheckConstraint(
                condition=models.Q(pending_debits__gte=0),
                name="ledger_account_pending_debits_non_negative",
            ),
            # The floor's last line of defence: the services' conditional updates never get here.
            models.CheckConstraint(
                condition=models.Q(floored=False)
                | models.Q(balance__gte=models.F("pending_debits")),
                name="ledger_account_floored_available_non_negative",
            ),
            models.UniqueConstraint(
                fields=["owner", "kind", "currency"],
                condition=models.Q(owner__isnull=False),
                name="ledger_account_owned_unique",
            ),
            models.UniqueConstraint(
                fields=["kind", "currency"],
                condition=models.Q(owner__isnull=True),
                name="ledger_account_system_unique",
            ),
        ]

    def __str__(self) -> str:
        owner = self.owner_id or "system"
        return f"{self.kind}:{self.currency}:{owner} (#{self.id})"

    @property
    def is_system(self) -> bool:
        return self.owner_id is None


class TransferKind(models.TextChoices):
    """What a transfer does to balances (TigerBeetle's single-phase and two-phase transfers)."""

    # Moves the posted balance at once: two entries.
    IMMEDIATE = "immediate", "Immediate"
    # Reserves the amount on the debit account (pending_debits); no entries.
    PENDING = "pending", "Pending"
    # Resolves a pending transfer by posting all or part of it: two entries.
    POST_PENDING = "post_pending", "Post pending"
    # Resolves a pending transfer by releasing it: no entries.
    VOID_PENDING = "void_pending", "Void pending"
    # Resolves an overdue pending transfer by releasing it: no entries.
    EXPIRE_PENDING = "expire_pending", "Expire pending"


RESOLUTION_KINDS = (
    TransferKind.POST_PENDING,
    TransferKind.VOID_PENDING,
    TransferKind.EXPIRE_PENDING,
)
POSTING_KINDS = (TransferKind.IMMEDIATE, TransferKind.POST_PENDING)


class PendingStatus(models.TextChoices):
    """A pending transfer's status, derived from its resolution (there is no status column)."""

    OPEN = "open", "Open"  # no resolution yet: the amount is reserved
    POSTED = "posted", "Posted"  # resolved by a post_pending transfer (full or partial)
    VOIDED = "voided", "Voided"  # resolved by a void_pending transfer
    EXPIRED = "expired", "Expired"  # resolved by an expire_pending transfer


class Transfer(models.Model):
    """One movement between two accounts, immutable once written.

    A pending transfer is resolved at most once, by a new transfer whose ``pending`` points
    at it (the one-to-one constraint referees concurrent posts, voids and expiries).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=TransferKind.choices)
    # Why the money moved: a code registered by the feature that wrote it.
    code = models.CharField(max_length=40)
    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="debit_transfers"
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="credit_transfers"
    )
    # Minor units, always positive. For a post: the amount posted; for a void or expire:
    # the amount released (the pending amount).
    amount = models.BigIntegerField()
    pending = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="resolution"
    )
    reference = models.CharField(max_length=200, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Retries carrying the same (scope, key) get the first transfer back and move nothing.
    idempotency_scope = models.CharField(max_length=200, blank=True, default="")
    # NULL, not "", means "no key": the unique constraint only covers keyed transfers.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # Pending transfers only: after this instant it can no longer be posted and beat expires it.
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="ledger_transfer_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(code__regex=TRANSFER_CODE_PATTERN),
                name="ledger_transfer_code_format",
            ),
            models.CheckConstraint(
                condition=~models.Q(debit_account=models.F("credit_account")),
                name="ledger_transfer_accounts_distinct",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=[kind.value for kind in TransferKind]),
                name="ledger_transfer_kind_valid",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        kind__in=[kind.value for kind in RESOLUTION_KINDS], pending__isnull=False
                    )
                    | models.Q(
                        kind__in=[TransferKind.IMMEDIATE.value, TransferKind.PENDING.value],
                        pending__isnull=True,
                    )
                ),
                name="ledger_transfer_resolution_has_pending",
            ),
            models.CheckConstraint(
                condition=models.Q(kind=TransferKind.PENDING.value)
                | models.Q(expires_at__isnull=True),
                name="ledger_transfer_expiry_only_pending",
            ),
            models.UniqueConstraint(
                fields=["idempotency_scope", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="ledger_transfer_idempotency_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="ledger_transfer_created_idx"),
            # The expiry sweep walks pending transfers by deadline.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(kind="pending", expires_at__isnull=False),
                name="ledger_transfer_expiry_idx",
            ),
            # Open pending debits of a system account are summed from these.
            models.Index(
                fields=["debit_account"],
                condition=models.Q(kind="pending"),
                name="ledger_transfer_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.code} {self.amount} ({self.id})"


class Entry(models.Model):
    """One side of a posting transfer on one account: credit positive, debit negative."""

    # Per account, entry id order is the order in which the entries changed its balance.
    id = models.BigAutoField(primary_key=True)
    # Indexed by the (account, -id) statement index below.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    # Indexed by the (transfer, account) unique constraint below.
    transfer = models.ForeignKey(
        Transfer, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    # Minor units, signed: credit > 0, debit < 0.
    amount = models.BigIntegerField()
    # Minor units: the owned account's balance right after this entry; NULL on system
    # accounts, whose row a transfer never touches.
    balance_after = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount=0), name="ledger_entry_amount_non_zero"
            ),
            # A transfer's two sides are different accounts: at most one entry per account.
            models.UniqueConstraint(
                fields=["transfer", "account"], name="ledger_entry_transfer_account_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-id"], name="ledger_entry_account_statement"),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} on #{self.account_id} ({self.transfer_id})"


class VerificationRun(models.Model):
    """One run of the ledger's verification (``manage.py verify_ledger``'s checks), asked
    for by an admin from the admin console and run by a worker: who asked, when, and the
    report. Written only by ``tally.ledger.verification_runs``; never holds money."""

    id = models.BigAutoField(primary_key=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    # Set once, when the worker's report (or its giving up) is recorded.
    finished_at = models.DateTimeField(null=True, blank=True)
    # The verdict: True clean, False mismatches found, None not finished or not run.
    ok = models.BooleanField(null=True, blank=True)
    # The report as ``ledger_verify`` returned it (counts, each check, its sample rows).
    report = models.JSONField(default=dict, blank=True)
    # Why the run could not finish (the worker gave up), else empty.
    error = models.CharField(max_length=1000, blank=True, default="")

    class Meta:
        constraints = [
            # One run in flight at a time: a second request while one runs is refused, so a
            # double click cannot scan the whole ledger twice.
            models.UniqueConstraint(
                models.Value(True),
                condition=models.Q(finished_at__isnull=True),
                name="ledger_verification_one_in_flight",
            ),
        ]
        indexes = [models.Index(fields=["-requested_at"], name="ledger_verification_newest")]

    def __str__(self) -> str:
        return f"verification #{self.id}"
