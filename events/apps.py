import importlib
import importlib.util
import os

from django.apps import AppConfig, apps


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event bus"

    def ready(self) -> None:
        # Discover subscribers: every installed app's `subscribers` module registers its own.
        from . import events  # noqa: F401 - the bus's own event types

        for config in apps.get_app_configs():
            for module in ("events", "subscribers"):  # event types first: workers must know them all
                if importlib.util.find_spec(f"{config.name}.{module}") is not None:
                    importlib.import_module(f"{config.name}.{module}")
        # Extra subscriber modules (tests and benchmarks register subscribers the product has
        # not got): a comma-separated list of importable modules.
        for module in filter(None, os.environ.get("OUTLAY_EXTRA_SUBSCRIBERS", "").split(",")):
            importlib.import_module(module.strip())
