"""Retries never double-apply: the same (scope, key) returns the first transfer."""

from __future__ import annotations

import pytest
from django.db import transaction

from tally.ledger import services, testing
from tally.ledger.exceptions import IdempotencyKeyReusedError, InsufficientFundsError
from tally.ledger.models import Account, Transfer
from tally.ledger.testing import assert_ledger_verifies, fund, position, row_counts

pytestmark = pytest.mark.django_db


def sell(
    vendor: Account, settlement: Account, amount_minor: int, *, key: str, scope: str = "vendor:1"
) -> Transfer:
    with transaction.atomic():
        return services.transfer_create(
            debit_account=vendor,
            credit_account=settlement,
            amount_minor=amount_minor,
            code=testing.SALE,
            reference="sale",
            idempotency_key=key,
            idempotency_scope=scope,
        ).transfer


def test_repeating_a_transfer_returns_the_first_and_moves_no_money(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    first = sell(prepaid, settlement, 300, key="k-1")
    after_first = (position(prepaid), position(settlement), row_counts())
    # when
    again = sell(prepaid, settlement, 300, key="k-1")
    # then
    assert again.id == first.id
    assert (position(prepaid), position(settlement), row_counts()) == after_first
    assert position(prepaid) == (700, 0, 700)
    assert_ledger_verifies()


def test_same_key_with_different_parameters_is_refused(
    prepaid: Account, settlement: Account
) -> None:
    # given
    fund(prepaid, 1_000)
    sell(prepaid, settlement, 300, key="k-1")
    before = (position(prepaid), row_counts())
    # when
    with pytest.raises(IdempotencyKeyReusedError) as raised:
        sell(prepaid, settlement, 301, key="k-1")
    # then
    assert (raised.value.code, raised.value.status_code) == ("idempotency_key_reused", 422)
    assert raised.value.extra == {"fields": ["amount"]}
    assert (position(prepaid), row_counts()) == before


def test_the_same_key_in_another_scope_is_a_new_transfer(
    prepaid: Account, settlement: Account
) -> None:
    fund(prepaid, 1_000)
    first = sell(prepaid, settlement, 300, key="k-1", scope="vendor:1")
    second = sell(prepaid, settlement, 300, key="k-1", scope="vendor:2")
    assert second.id != first.id
    assert position(prepaid) == (400, 0, 400)


def test_a_refused_transfer_does_not_burn_its_key(prepaid: Account, settlement: Account) -> None:
    # given
    fund(prepaid, 100)
    with pytest.raises(InsufficientFundsError):
        sell(prepaid, settlement, 300, key="k-1")
    fund(prepaid, 200)
    # when
    transfer = sell(prepaid, settlement, 300, key="k-1")
    # then
    assert transfer.idempotency_key == "k-1"
    assert position(prepaid) == (0, 0, 0)


def test_repeating_a_keyed_post_returns_the_first_post(
    wallet: Account, settlement: Account
) -> None:
    # given
    fund(wallet, 1_000)
    with transaction.atomic():
        pending = services.transfer_create_pending(
            debit_account=wallet,
            credit_account=settlement,
            amount_minor=400,
            code=testing.ACTIVATION,
            idempotency_key="reserve-1",
        )
        again = services.transfer_create_pending(
            debit_account=wallet,
            credit_account=settlement,
            amount_minor=400,
            code=testing.ACTIVATION,
            idempotency_key="reserve-1",
        )
    assert again.id == pending.id
    assert position(wallet) == (1_000, 400, 600)
    # when
    posts = []
    for _ in range(2):
        with transaction.atomic():
            posts.append(
                services.transfer_post_pending(
                    pending=pending, amount_minor=250, idempotency_key="post-1"
                )
            )
    # then
    assert posts[0].id == posts[1].id
    assert position(wallet) == (750, 0, 750)
    assert position(settlement) == (250, 0, 250)
    assert_ledger_verifies()
