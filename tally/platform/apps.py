from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "tally.platform"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from tally.platform.metrics import metrics_scrape_collector_register
        from tally.platform.outbox.metrics import OutboxCollector

        metrics_scrape_collector_register(OutboxCollector())
