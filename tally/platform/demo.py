"""Demo data for development. Each app that has demo data provides ``<app>/demo.py`` with a
``demo_data_load()`` returning the accounts it documents; they run in INSTALLED_APPS order,
so the platform never imports the apps built on it. Never loaded under production settings."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from django.apps import apps

DEMO_PASSWORD = "tally-demo-pass"  # noqa: S105 - development-only, printed by `make run`


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: str
    note: str


def demo_data_load() -> list[DemoAccount]:
    """Load every app's demo data; each loader is idempotent."""
    accounts: list[DemoAccount] = []
    for app_config in apps.get_app_configs():
        # This module is the platform's demo.py itself: only the apps above it have data.
        if not app_config.name.startswith("tally.") or app_config.name == "tally.platform":
            continue
        try:
            module = importlib.import_module(f"{app_config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_config.name}.demo":
                raise
            continue
        accounts += module.demo_data_load() or []
    return accounts
