from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "tally.identity"
    label = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from tally.identity import schema  # noqa: F401  (registers the OpenAPI extension)
