from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "tally.notifications"
    label = "notifications"
    verbose_name = "Notifications"
