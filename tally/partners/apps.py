from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "tally.partners"
    label = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        # A partner hears how the activations it started end: offers announces, we listen.
        from tally.offers.hooks import activation_finished_listen
        from tally.partners.callbacks import activation_callback_enqueue

        activation_finished_listen(activation_callback_enqueue)
