from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "tally.offers"
    label = "offers"
    verbose_name = "Offers"

    def ready(self) -> None:
        from tally.offers.selectors import (
            ACTIVATION_OPERATION_KIND,
            activation_operation_find_for_actor,
        )
        from tally.platform.operations.selectors import operation_kind_register

        # GET operations/{id}/ answers for activations too.
        operation_kind_register(
            kind=ACTIVATION_OPERATION_KIND, lookup=activation_operation_find_for_actor
        )
