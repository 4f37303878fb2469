from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "tally.orders"
    label = "orders"
    verbose_name = "Orders"
