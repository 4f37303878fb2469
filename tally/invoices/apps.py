from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "tally.invoices"
    label = "invoices"
    verbose_name = "Invoices"

    def ready(self) -> None:
        from tally.invoices.services import invoice_issue_enqueue
        from tally.payments.hooks import payment_captured_listen

        # Every captured payment gets its invoice: the job commits with the capture.
        payment_captured_listen(invoice_issue_enqueue)
