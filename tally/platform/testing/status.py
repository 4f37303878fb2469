"""Samples that let one platform test prove every declared status machine.

Each app with a status machine provides ``<app>.tests.status_samples.STATUS_SAMPLES``: for
each of its models, a :class:`StatusSample` that makes a saved row in any state and the
extra fields a transition to a state needs (those its constraints require, e.g. the
transfer of an approved request). ``tally/platform/tests/test_status_machines.py`` finds
them by that convention and fails for a machine without samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models


def _no_fields(target: str) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class StatusSample:
    row_in: Callable[[str], models.Model]
    fields_for: Callable[[str], dict[str, Any]] = field(default=_no_fields)


SAMPLES_MODULE = "tests.status_samples"
