from __future__ import annotations

import pytest

from tally.ledger.models import Account, AccountKind
from tally.ledger.tests.helpers import owned_account, system_account


@pytest.fixture
def vendor_credit(db: None) -> Account:
    return owned_account(AccountKind.VENDOR_CREDIT)


@pytest.fixture
def other_vendor_credit(db: None) -> Account:
    return owned_account(AccountKind.VENDOR_CREDIT)


@pytest.fixture
def wallet(db: None) -> Account:
    return owned_account(AccountKind.CUSTOMER_WALLET)


@pytest.fixture
def issuance(db: None) -> Account:
    return system_account(AccountKind.ISSUANCE)


@pytest.fixture
def settlement(db: None) -> Account:
    return system_account(AccountKind.AIRTIME_SETTLEMENT)
