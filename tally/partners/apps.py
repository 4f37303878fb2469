from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "tally.partners"
    label = "partners"
    verbose_name = "Partners"
