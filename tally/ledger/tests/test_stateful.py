"""Random sequences of ledger operations against a plain in-memory model.

After every step the database must agree with the model to the unit, and the whole ledger
must pass verification (balances = entries, pending = open reservations, zero sum, floors).
"""

from __future__ import annotations

import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tally.ledger import services, testing
from tally.ledger.exceptions import (
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    PendingTransferAlreadyResolvedError,
    PendingTransferExpiredError,
    PostAmountExceedsPendingError,
)
from tally.ledger.models import Account, Transfer
from tally.ledger.testing import assert_ledger_verifies, owner, position

OWNED = ("vendor", "other_vendor", "wallet")
SYSTEM = {
    "issuance": testing.ISSUANCE,
    "settlement": testing.SETTLEMENT,
    "revenue": testing.REVENUE,
}
NAMES = OWNED + tuple(SYSTEM)
amounts = st.integers(min_value=1, max_value=400)
ALL_PAIRS = [(debit, credit) for debit in NAMES for credit in NAMES if debit != credit]
OWNED_DEBIT_PAIRS = [(debit, credit) for debit, credit in ALL_PAIRS if debit in OWNED]
# Mostly from owned accounts, where the floor and the reservations are interesting.
pairs = st.one_of(st.sampled_from(OWNED_DEBIT_PAIRS), st.sampled_from(ALL_PAIRS))
CURRENCIES = ("Q" + a + b for a in string.ascii_uppercase for b in string.ascii_uppercase)


@dataclass
class PendingModel:
    transfer: Transfer
    debit: str
    credit: str
    amount: int
    expires_at: datetime | None
    resolved: bool = False


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.scope = str(uuid.uuid4())  # keys of earlier examples never collide
        # Every example runs in a currency of its own, so it gets fresh system accounts too
        # (the examples share one database transaction).
        currency = next(CURRENCIES)
        self.accounts: dict[str, Account] = {}
        with transaction.atomic():
            for name in OWNED:
                kind = testing.WALLET if name == "wallet" else testing.PREPAID
                self.accounts[name] = services.account_get_or_create(
                    owner=owner(), kind=kind, currency=currency
                )
            for name, kind in SYSTEM.items():
                self.accounts[name] = services.account_system(kind=kind, currency=currency)
        self.balance = dict.fromkeys(NAMES, 0)
        self.pending = dict.fromkeys(NAMES, 0)
        self.pendings: list[PendingModel] = []
        self.keys: dict[str, tuple[str, str, int]] = {}
        for name in OWNED:
            self.fund(owned=name, amount=500)

    # --- helpers ------------------------------------------------------------------------

    def available(self, name: str) -> int:
        return self.balance[name] - self.pending[name]

    def covers(self, name: str, amount: int) -> bool:
        return name not in OWNED or self.available(name) >= amount

    def attempt(self, action: Any) -> Any:
        with transaction.atomic():
            return action()

    # --- rules --------------------------------------------------------------------------

    @rule(owned=st.sampled_from(OWNED), amount=amounts)
    def fund(self, owned: str, amount: int) -> None:
        self.attempt(
            lambda: services.transfer_create(
                debit_account=self.accounts["issuance"],
                credit_account=self.accounts[owned],
                amount_minor=amount,
                code=testing.FUNDING,
                now=self.now,
            )
        )
        self.balance["issuance"] -= amount
        self.balance[owned] += amount

    @rule(pair=pairs, amount=amounts, key=st.sampled_from([None, None, "a", "b", "c"]))
    def transfer(self, pair: tuple[str, str], amount: int, key: str | None) -> None:
        debit, credit = pair

        def create() -> Transfer:
            return services.transfer_create(
                debit_account=self.accounts[debit],
                credit_account=self.accounts[credit],
                amount_minor=amount,
                code=testing.ADJUSTMENT,
                idempotency_key=key,
                idempotency_scope=self.scope,
                now=self.now,
            )

        if key is not None and key in self.keys:
            if self.keys[key] == (debit, credit, amount):
                self.attempt(create)  # a replay: returns the first, moves nothing
            else:
                with pytest.raises(IdempotencyKeyReusedError):
                    self.attempt(create)
            return
        if not self.covers(debit, amount):
            with pytest.raises(InsufficientFundsError):
                self.attempt(create)
            return
        self.attempt(create)
        if key is not None:
            self.keys[key] = (debit, credit, amount)
        self.balance[debit] -= amount
        self.balance[credit] += amount

    @rule(
        pair=pairs,
        amount=amounts,
        timeout=st.one_of(st.none(), st.integers(min_value=1, max_value=600)),
    )
    def create_pending(self, pair: tuple[str, str], amount: int, timeout: int | None) -> None:
        debit, credit = pair

        def create() -> Transfer:
            return services.transfer_create_pending(
                debit_account=self.accounts[debit],
                credit_account=self.accounts[credit],
                amount_minor=amount,
                code=testing.ACTIVATION,
                timeout_seconds=timeout,
                now=self.now,
            )

        if not self.covers(debit, amount):
            with pytest.raises(InsufficientFundsError):
                self.attempt(create)
            return
        transfer = self.attempt(create)
        expires_at = None if timeout is None else self.now + timedelta(seconds=timeout)
        self.pendings.append(PendingModel(transfer, debit, credit, amount, expires_at))
        self.pending[debit] += amount

    @precondition(lambda self: self.pendings)
    @rule(data=st.data())
    def post(self, data: st.DataObject) -> None:
        model = data.draw(st.sampled_from(self.pendings))
        # In full, in part, or (refused) for more than was reserved.
        part = data.draw(
            st.one_of(
                st.none(),
                st.integers(min_value=1, max_value=model.amount),
                st.integers(min_value=model.amount + 1, max_value=model.amount + 100),
            )
        )

        def post() -> Transfer:
            return services.transfer_post_pending(
                pending=model.transfer, amount_minor=part, now=self.now
            )

        amount = model.amount if part is None else part
        # The service checks its arguments before it touches the database.
        if amount > model.amount:
            with pytest.raises(PostAmountExceedsPendingError):
                self.attempt(post)
        elif model.resolved:
            with pytest.raises(PendingTransferAlreadyResolvedError):
                self.attempt(post)
        elif model.expires_at is not None and model.expires_at <= self.now:
            with pytest.raises(PendingTransferExpiredError):
                self.attempt(post)
        else:
            self.attempt(post)
            model.resolved = True
            self.pending[model.debit] -= model.amount
            self.balance[model.debit] -= amount
            self.balance[model.credit] += amount

    @precondition(lambda self: self.pendings)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        model = data.draw(st.sampled_from(self.pendings))

        def void() -> Transfer:
            return services.transfer_void_pending(pending=model.transfer, now=self.now)

        if model.resolved:
            with pytest.raises(PendingTransferAlreadyResolvedError):
                self.attempt(void)
            return
        self.attempt(void)
        model.resolved = True
        self.pending[model.debit] -= model.amount

    @rule(seconds=st.integers(min_value=1, max_value=120))
    def advance_clock(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def expire_overdue(self) -> None:
        expired = self.attempt(lambda: services.transfer_expire_overdue(now=self.now, limit=1000))
        due = [
            model
            for model in self.pendings
            if not model.resolved and model.expires_at is not None and model.expires_at <= self.now
        ]
        # Earlier examples' overdue transfers (other currencies) may expire too.
        assert {model.transfer.id for model in due} <= {t.pending_id for t in expired}
        for model in due:
            model.resolved = True
            self.pending[model.debit] -= model.amount

    @rule(name=st.sampled_from(tuple(SYSTEM)))
    def roll_up(self, name: str) -> None:
        self.attempt(lambda: services.account_roll_up(account=self.accounts[name]))

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        for name, account in self.accounts.items():
            expected = (self.balance[name], self.pending[name], self.available(name))
            assert position(account) == expected, name

    @invariant()
    def every_money_rule_holds(self) -> None:
        for name in OWNED:
            assert self.available(name) >= 0
        assert_ledger_verifies()


@pytest.mark.django_db
def test_random_operation_sequences_keep_every_money_rule() -> None:
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
