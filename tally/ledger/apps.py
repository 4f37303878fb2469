from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "tally.ledger"
    label = "ledger"
    verbose_name = "Ledger"
