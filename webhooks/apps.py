from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # Runs after the bus has imported every app's event types (EventsConfig comes first in
        # INSTALLED_APPS), so the enqueuing subscriber can name them all; see subscribers.py.
        from .subscribers import register

        register()
