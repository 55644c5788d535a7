"""Reads of the per-minute outbox rollup for the operations page's charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection

from events.registry import subscribers


@dataclass
class Window:
    """One time window cut into equal buckets, oldest first."""

    name: str
    minutes: int
    bucket_minutes: int

    @property
    def buckets(self) -> int:
        return self.minutes // self.bucket_minutes


HOUR = Window("last hour", 60, 1)
DAY = Window("last day", 24 * 60, 15)


@dataclass
class SubscriberHistory:
    subscriber: str
    # per window name: one value per bucket
    throughput: dict[str, list[float]] = field(default_factory=dict)  # deliveries done per minute
    lag: dict[str, list[float]] = field(default_factory=dict)  # highest lag in the bucket, seconds
    dead: dict[str, list[float]] = field(default_factory=dict)  # dead letters waiting


_HISTORY = """
SELECT subscriber, floor(EXTRACT(EPOCH FROM minute - %(start)s) / %(bucket)s)::int AS bucket,
       sum(done), max(lag_seconds), max(dead)
FROM observability_outboxminute
WHERE organization_id = %(organization_id)s AND minute >= %(start)s AND minute < %(end)s
GROUP BY 1, 2
"""


def outbox_history(*, organization_id: int, now: datetime, windows: tuple[Window, ...] = (HOUR, DAY)) -> list[
        SubscriberHistory]:
    """Per registered subscriber, per window: throughput, lag and dead letters from the rollup
    (one grouped query per window; buckets without rows are 0). Scoped to the organisation."""
    end = now.replace(second=0, microsecond=0)
    history = {name: SubscriberHistory(name) for name in subscribers()}
    for window in windows:
        for line in history.values():
            line.throughput[window.name] = [0.0] * window.buckets
            line.lag[window.name] = [0.0] * window.buckets
            line.dead[window.name] = [0.0] * window.buckets
        start = end - timedelta(minutes=window.minutes)
        with connection.cursor() as cursor:
            cursor.execute(_HISTORY, {"organization_id": organization_id, "start": start, "end": end,
                                      "bucket": window.bucket_minutes * 60})
            for name, bucket, done, lag, dead in cursor.fetchall():
                line = history.setdefault(name, _empty(name, windows))
                if 0 <= bucket < window.buckets:
                    line.throughput[window.name][bucket] = float(done) / window.bucket_minutes
                    line.lag[window.name][bucket] = float(lag or 0)
                    line.dead[window.name][bucket] = float(dead or 0)
    return list(history.values())


def _empty(name: str, windows: tuple[Window, ...]) -> SubscriberHistory:
    line = SubscriberHistory(name)
    for window in windows:
        for series in (line.throughput, line.lag, line.dead):
            series[window.name] = [0.0] * window.buckets
    return line
