"""The per-minute rollup of the outbox that the operations page draws, kept by beat.

Every minute (``observability.roll_up_outbox``) the last few whole minutes are recomputed from
the attempt log (done = attempts that ended ``ok`` in the minute, failed = ``error``), which is
idempotent, so a late run or a second beat changes nothing; the lag and the dead letters are
sampled into the minute that just ended. Rows older than the retention are deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from events.models import AttemptOutcome, DeliveryStatus

from .models import OutboxMinute

RECOMPUTE_MINUTES = 3  # attempts may finish a little after their minute was first rolled up

_DONE_PER_MINUTE = """
INSERT INTO observability_outboxminute (minute, organization_id, subscriber, done, failed)
SELECT date_trunc('minute', a.finished_at), d.organization_id, d.subscriber,
       count(*) FILTER (WHERE a.outcome = %(ok)s), count(*) FILTER (WHERE a.outcome = %(error)s)
FROM events_attempt a JOIN events_delivery d ON d.id = a.delivery_id
WHERE a.finished_at >= %(start)s AND a.finished_at < %(end)s AND a.outcome IN (%(ok)s, %(error)s)
GROUP BY 1, 2, 3
ON CONFLICT (organization_id, minute, subscriber) DO UPDATE SET done = EXCLUDED.done, failed = EXCLUDED.failed
"""

# The lag and dead letters per organisation and subscriber now, read through the partial and
# (organisation, status) indexes: only waiting and dead rows are looked at.
_SAMPLE = """
INSERT INTO observability_outboxminute (minute, organization_id, subscriber, done, failed, lag_seconds, dead)
SELECT %(minute)s, organization_id, subscriber, 0, 0,
       COALESCE(EXTRACT(EPOCH FROM %(now)s - min(created_at) FILTER (WHERE status <> %(dead)s)), 0),
       count(*) FILTER (WHERE status = %(dead)s)
FROM events_delivery WHERE status IN (%(pending)s, %(in_flight)s, %(dead)s)
GROUP BY organization_id, subscriber
ON CONFLICT (organization_id, minute, subscriber) DO UPDATE
    SET lag_seconds = EXCLUDED.lag_seconds, dead = EXCLUDED.dead
"""


def roll_up(now: datetime | None = None) -> int:
    """Recompute the last whole minutes, sample the lag into the one that just ended, prune.
    Returns the rows written."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    params = {"ok": AttemptOutcome.OK, "error": AttemptOutcome.ERROR, "dead": DeliveryStatus.DEAD,
              "pending": DeliveryStatus.PENDING, "in_flight": DeliveryStatus.IN_FLIGHT,
              "start": end - timedelta(minutes=RECOMPUTE_MINUTES), "end": end,
              "minute": end - timedelta(minutes=1), "now": now}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_DONE_PER_MINUTE, params)
        written = cursor.rowcount
        cursor.execute(_SAMPLE, params)
        written += cursor.rowcount
    cutoff = now - timedelta(hours=settings.OUTBOX_ROLLUP_RETENTION_HOURS)
    OutboxMinute.objects.filter(minute__lt=cutoff).delete()
    return written
