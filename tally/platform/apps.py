from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "tally.platform"
    label = "platform"
    verbose_name = "Platform"
