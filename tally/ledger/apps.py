from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class LedgerConfig(AppConfig):
    name = "tally.ledger"
    label = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        # Each feature declares its account kinds and transfer codes in its own
        # ``ledger_vocabulary`` module (see tally.ledger.vocabulary); load them all now, so
        # the registry is complete before any service or check reads it.
        autodiscover_modules("ledger_vocabulary")
        from tally.ledger.metrics import LedgerVerificationCollector
        from tally.platform.metrics import metrics_scrape_collector_register

        # The periodic verification's verdict, on every web replica's /metrics.
        metrics_scrape_collector_register(LedgerVerificationCollector())
