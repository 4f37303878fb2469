from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tally.platform.demo import DEMO_PASSWORD, demo_data_load


class Command(BaseCommand):
    help = "Load idempotent demo data (development settings only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "TALLY_DEMO_DATA", False):
            raise CommandError("Demo data is only loaded under development settings.")
        accounts = demo_data_load()
        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
        for account in accounts:
            self.stdout.write(f"  {account.email:<24} {account.note}")
