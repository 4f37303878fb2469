from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "tally.catalog"
    label = "catalog"
    verbose_name = "Marketplace catalog"
