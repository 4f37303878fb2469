from __future__ import annotations

import pytest

from tally.ledger import testing
from tally.ledger.models import Account
from tally.ledger.testing import owned_account, system_account


@pytest.fixture
def prepaid(db: None) -> Account:
    return owned_account(testing.PREPAID)


@pytest.fixture
def other_prepaid(db: None) -> Account:
    return owned_account(testing.PREPAID)


@pytest.fixture
def wallet(db: None) -> Account:
    return owned_account(testing.WALLET)


@pytest.fixture
def issuance(db: None) -> Account:
    return system_account(testing.ISSUANCE)


@pytest.fixture
def settlement(db: None) -> Account:
    return system_account(testing.SETTLEMENT)
