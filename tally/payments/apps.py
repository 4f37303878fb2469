from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "tally.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from tally.ledger.verification import verification_check_register
        from tally.payments.verification import PAYMENT_CHECKS

        # verify_ledger checks the payments' books too.
        for check in PAYMENT_CHECKS:
            verification_check_register(check)
