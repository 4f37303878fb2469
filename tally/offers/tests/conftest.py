from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tally.offers.provider_simulator import ProviderSimulator
from tally.offers.testing import provider_simulated


@pytest.fixture
def provider(settings: Any) -> Iterator[ProviderSimulator]:
    """The provider simulator on loopback, with the default adapter pointed at it."""
    with provider_simulated(settings) as simulator:
        yield simulator
