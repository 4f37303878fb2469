from django.apps import AppConfig


class TopupsConfig(AppConfig):
    name = "tally.topups"
    label = "topups"
    verbose_name = "Top-ups"
