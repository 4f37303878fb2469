from django.apps import AppConfig


class CreditConfig(AppConfig):
    name = "tally.credit"
    label = "credit"
    verbose_name = "Credit"

    def ready(self) -> None:
        from tally.credit.selectors import (
            CUSTOMER_CREDIT_OPERATION_KIND,
            customer_credit_operation_find_for_actor,
        )
        from tally.platform.operations.selectors import operation_kind_register

        operation_kind_register(
            kind=CUSTOMER_CREDIT_OPERATION_KIND, lookup=customer_credit_operation_find_for_actor
        )
