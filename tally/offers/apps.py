from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "tally.offers"
    label = "offers"
    verbose_name = "Offers"
