"""A subscriber the product does not have, registered at run time by a test (backfill)."""

from __future__ import annotations

import time

from events.registry import subscriber
from tests.support.subscribers import _record, _redis

NAME = "test.late"


def register() -> None:
    subscriber("test.pinged", name=NAME, timeout=3)(late)


def late(event, envelope) -> None:
    """Catches up on pings from the log (slowly, if a test sets ``test:late_sleep_ms``)."""
    pause = _redis().get("test:late_sleep_ms")
    if pause:
        time.sleep(float(pause) / 1000)
    _record(envelope, NAME)


if __name__ != "__main__":
    import os

    # Worker processes started with this module in OUTLAY_EXTRA_SUBSCRIBERS register it at once.
    if "tests.support.late_subscriber" in os.environ.get("OUTLAY_EXTRA_SUBSCRIBERS", ""):
        register()
