from django.apps import AppConfig


class CreditConfig(AppConfig):
    name = "tally.credit"
    label = "credit"
    verbose_name = "Credit"
