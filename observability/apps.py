from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from . import metrics, tracing

        metrics.connect_celery_signals()
        tracing.configure_from_environment()
