"""Replaying and backfilling: give deliveries another run, or create them for past events.

* ``replay``: dead (or failing) deliveries back to pending with a fresh retry budget, sent after
  commit (a few: a message each; many: set-based chunks with a resumable, throttled run and its
  progress, a drain per subscriber working them off in batches). Done deliveries are never
  touched, so a replay never repeats an effect.
* ``backfill``: deliveries of past events for a subscriber added later, so it catches up from
  the log: set-based, resumable, throttled, with progress; a drain of the subscriber runs them.

Direction: the admin, the API, the ops page and the ``events`` command call this module; it
writes delivery rows and leaves sending to ``events.sending``. It runs no handler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.after_commit import send_on_commit

from . import sql
from .models import BackfillRun, Delivery, DeliveryStatus, ReplayRun
from .registry import ALL_EVENTS, get_subscriber, subscribers
from .sending import dispatch_on_commit, start_drains


def replay(deliveries, *, organization_id: int | None = None, selection: dict | None = None,
           description: str = "", batch: int | None = None, max_waiting: int | None = None,
           progress: Callable[[ReplayRun], None] | None = None) -> int:
    """Reset the given deliveries (dead, or pending/failing) to pending with a fresh retry budget
    and send them once this commits; return how many. Done deliveries are left alone: replay
    never repeats an effect.

    A few (one delivery batch, ``OUTBOX_BATCH_SIZE``) are reset in one transaction and get a
    message each. More are a mass replay: set-based chunks of ``batch`` deliveries
    (``OUTBOX_BACKFILL_BATCH``) in id order, each in its own transaction with its cursor and count
    saved in a ``ReplayRun`` row (progress for the command's bar and the operations page), a drain
    per subscriber working them off in batches. ``selection`` names the run: an unfinished run of
    the same organisation and selection is continued from its cursor, so a replay killed mid-way
    resumes. ``max_waiting`` throttles (the command: it pauses while that many of a subscriber's
    deliveries wait, so live deliveries keep their place); a web request passes none and never
    sleeps. ``deliveries`` must already be scoped to ``organization_id`` by the caller."""
    replayable = deliveries.filter(status__in=[DeliveryStatus.DEAD, DeliveryStatus.PENDING])
    run = None
    if selection is not None:
        run = (ReplayRun.objects.filter(organization_id=organization_id, selection=selection, finished_at__isnull=True)
               .order_by("-id").first())
    if run is None:
        total = replayable.count()
        if total <= settings.OUTBOX_BATCH_SIZE:
            return _replay_few(replayable)
        now = timezone.now()
        run = ReplayRun.objects.create(organization_id=organization_id, selection=selection, total=total,
                                       description=description[:300] or f"{total} deliveries",
                                       started_at=now, updated_at=now)
    batch = batch or settings.OUTBOX_BACKFILL_BATCH
    if progress:
        progress(run)
    seen: set[str] = set()
    while True:
        for name in sorted(seen) if max_waiting else ():
            _wait_while_backlogged(name, max_waiting)
        now = timezone.now()
        with transaction.atomic():
            chunk = replayable.filter(pk__gt=run.cursor_id) if run.cursor_id is not None else replayable
            rows = list(chunk.order_by("pk").select_for_update(skip_locked=True)
                        .values_list("id", "subscriber")[:batch])
            _reset([pk for pk, _ in rows], now)
            if rows:
                run.done += len(rows)
                run.cursor_id = rows[-1][0]
            if len(rows) < batch:
                run.finished_at = now
            run.updated_at = now
            run.save(update_fields=["done", "cursor_id", "finished_at", "updated_at"])
            names = {name for _, name in rows}
            if names:
                # worked off in batches by one drain per subscriber, not a message each
                send_on_commit(_drain_rollback_unsafe, sorted(names))
        seen |= names
        if progress:
            progress(run)
        if run.finished_at:
            return run.done


def _replay_few(replayable) -> int:
    with transaction.atomic():
        rows = list(replayable.select_for_update(skip_locked=True).values_list("id", "subscriber"))
        _reset([pk for pk, _ in rows], timezone.now())
        dispatch_on_commit(rows)
    return len(rows)


def _reset(ids: list[int], now: datetime) -> None:
    if ids:
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.PENDING, attempts=0,
            next_attempt_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))


def _drain_rollback_unsafe(subscriber_names: list[str]) -> None:
    for name in subscriber_names:
        start_drains(name)  # unless a drain runs already: it claims these as well


def backfill(subscriber_name: str, *, since: datetime | None = None, batch: int | None = None,
             max_waiting: int | None = None, progress: Callable[[BackfillRun], None] | None = None) -> int:
    """Create deliveries of past events for a subscriber added later, so it catches up from the
    log; return how many were created. Each past event gets one delivery, however often this runs.

    Set-based: one statement per ``batch`` events (the next events after a cursor, ``INSERT ...
    SELECT ... ON CONFLICT DO NOTHING``), each in its own transaction with the cursor saved in a
    ``BackfillRun`` row. Resumable: a run killed mid-way is continued from its cursor by the next
    call with the same subscriber and ``since``. Throttled: it creates no more while
    ``max_waiting`` of the subscriber's deliveries wait, so the backlog (and the live deliveries
    queued behind it) stays bounded; the deliveries are worked off in batches by a drain of the
    subscriber, which is started after every chunk. ``progress`` is called after every chunk."""
    sub = get_subscriber(subscriber_name)
    if sub is None:
        raise LookupError(f"unknown subscriber {subscriber_name!r}; known: {', '.join(subscribers())}")
    batch = batch or settings.OUTBOX_BACKFILL_BATCH
    max_waiting = max_waiting or settings.OUTBOX_BACKFILL_MAX_WAITING
    selection = {"all_types": ALL_EVENTS in sub.event_types, "types": list(sub.event_types), "since": since}
    unfinished = BackfillRun.objects.filter(subscriber=sub.name, since=since, finished_at__isnull=True)
    run = unfinished.order_by("-id").first() or _start_run(sub.name, since, selection)
    if progress:
        progress(run)
    while True:
        _wait_while_backlogged(sub.name, max_waiting)
        now = timezone.now()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql.BACKFILL_CHUNK, sql.with_statuses({
                    **selection, "after_at": run.cursor_occurred_at, "after_id": run.cursor_event_id,
                    "batch": batch, "subscriber": sub.name, "now": now,
                    # the drain runs them; the sweeper only if it does not within a lease
                    "due": now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)}))
                covered, created, last_at, last_id = cursor.fetchone()
            if covered:
                run.events_done += covered
                run.created += created
                run.cursor_occurred_at, run.cursor_event_id = last_at, last_id
            if covered < batch:
                run.finished_at = now
            run.updated_at = now
            run.save(update_fields=["events_done", "created", "cursor_occurred_at", "cursor_event_id",
                                    "finished_at", "updated_at"])
        if created:
            start_drains(sub.name)
        if progress:
            progress(run)
        if run.finished_at:
            return run.created


def _start_run(subscriber: str, since: datetime | None, selection: dict) -> BackfillRun:
    with connection.cursor() as cursor:
        cursor.execute(sql.BACKFILL_TOTAL, selection)
        (total,) = cursor.fetchone()
    now = timezone.now()
    return BackfillRun.objects.create(subscriber=subscriber, since=since, events_total=total, started_at=now,
                                      updated_at=now)


def _wait_while_backlogged(subscriber: str, max_waiting: int) -> None:
    """Sleep while ``max_waiting`` or more of the subscriber's deliveries wait to be run."""
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql.WAITING, sql.with_statuses({"subscriber": subscriber, "cap": max_waiting}))
            (waiting,) = cursor.fetchone()
        if waiting < max_waiting:
            return
        start_drains(subscriber)  # if nobody drains it (a worker died with its drain)
        time.sleep(settings.OUTBOX_BACKFILL_PAUSE_SECONDS)


def deliveries_matching(*, ids=None, subscriber=None, event_type=None, status=None, since=None, until=None):
    """The filter shared by the replay command, the admin and the API."""
    qs = Delivery.objects.all()
    if ids:
        qs = qs.filter(pk__in=ids)
    if subscriber:
        qs = qs.filter(subscriber=subscriber)
    if event_type:
        qs = qs.filter(event_type=event_type)
    if status:
        qs = qs.filter(status=status)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs
