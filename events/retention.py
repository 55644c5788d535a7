"""Retention: what the outbox forgets once it is no longer needed. Events stay (they are the log).

* ``prune_attempts``: attempt rows of done deliveries, after ``OUTBOX_ATTEMPT_RETENTION_DAYS``.
* ``prune_deliveries``: done deliveries themselves (and their attempts), after
  ``OUTBOX_DELIVERY_RETENTION_DAYS``, in bounded chunks. What a pruned delivery still has to
  answer is kept compact, per subscriber and event type, in ``PrunedDeliveries``: the span of the
  log its pruned deliveries covered, so that a backfill never creates (and runs) a delivery again
  for an event whose done delivery was pruned. Nothing else needs them: a duplicated message
  for a pruned delivery finds no row and does nothing, the sweeper and replay only look at rows
  that are not done, and dead letters are never pruned.

Direction: ``events.tasks`` (beat) and the ``events prune`` command call this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import sql
from .models import Attempt, DeliveryStatus


def prune_attempts(older_than_days: int | None = None) -> int:
    """Delete attempt rows of done deliveries finished before the retention age. Events stay."""
    days = settings.OUTBOX_ATTEMPT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Attempt.objects.filter(delivery__status=DeliveryStatus.DONE, finished_at__lt=cutoff).delete()
    return deleted


@dataclass
class PruneProgress:
    looked_at: int = 0
    deleted: int = 0
    chunks: int = 0


def prune_deliveries(older_than_days: float | None = None, *, batch: int | None = None, pause: float | None = None,
                     progress: Callable[[PruneProgress], None] | None = None) -> PruneProgress:
    """Delete done deliveries (with their attempts) done before the retention age; return how
    many rows were looked at and deleted. Pending, in-flight and dead deliveries stay, whatever
    their age, and so do the events.

    Bounded: one statement and one transaction per ``batch`` deliveries, walked in id order
    after a cursor (``events.sql.PRUNE_CHUNK``), with ``pause`` seconds between chunks, so a
    prune never holds many locks, nor long, nor the disk busy for live deliveries. It stops at
    the first chunk made only of deliveries created after the cutoff (none of them, nor any
    later one, can have been done before it). Rows a live transaction holds are skipped (they
    are not done yet, or are pruned next time)."""
    days = settings.OUTBOX_DELIVERY_RETENTION_DAYS if older_than_days is None else older_than_days
    batch = batch or settings.OUTBOX_PRUNE_BATCH
    pause = settings.OUTBOX_PRUNE_PAUSE_SECONDS if pause is None else pause
    now = timezone.now()
    cutoff = now - timedelta(days=days)
    result = PruneProgress()
    after = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.PRUNE_CHUNK, sql.with_statuses({"after": after, "batch": batch, "cutoff": cutoff,
                                                               "now": now}))
            looked_at, deleted, last_id, oldest_created = cursor.fetchone()
        result.looked_at += looked_at
        result.deleted += deleted
        result.chunks += 1
        if progress:
            progress(result)
        if looked_at < batch or oldest_created >= cutoff:
            return result
        after = last_id
        if pause:
            time.sleep(pause)
