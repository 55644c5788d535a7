"""A subscriber the product does not have, registered at run time by a test (backfill)."""

from __future__ import annotations

import time

from django.db import connection

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


def past_pings(n: int) -> list:
    """``n`` past events in the log, a second apart and oldest first, with no deliveries (written
    before the subscriber existed); returns their ids."""
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO events_event (id, type, version, occurred_at, organization_id, aggregate_type, aggregate_id,
                                      sequence, actor_label, correlation_id, payload, origin)
            SELECT gen_random_uuid(), 'test.pinged', 1, now() - make_interval(secs => %s - i), 1, 'test',
                   'past-' || i, 1, '', 'backfill-test', jsonb_build_object('key', 'past-' || i, 'note', ''), '{}'
            FROM generate_series(1, %s) AS i ORDER BY i RETURNING id""", [n, n])
        return [row[0] for row in cursor.fetchall()]


if __name__ != "__main__":
    import os

    # Worker processes started with this module in OUTLAY_EXTRA_SUBSCRIBERS register it at once.
    if "tests.support.late_subscriber" in os.environ.get("OUTLAY_EXTRA_SUBSCRIBERS", ""):
        register()
