"""Reads over the outbox: an aggregate's timeline, delivery status by subscriber, the catalogue,
the progress of backfills and mass replays."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from core import prepared
from core.rows import JoinedRead

from . import sql
from .models import Attempt, BackfillRun, Delivery, DeliveryStatus, Event, ReplayRun
from .registry import subscribers
from .types import event_types


@dataclass
class DeliveryLine:
    id: int
    subscriber: str
    status: str
    attempts: int
    last_error: str
    done_at: datetime | None
    latency_ms: float | None
    attempt_log: list[Attempt] = field(default_factory=list)


@dataclass
class TimelineEntry:
    event: Event
    deliveries: list[DeliveryLine]

    @property
    def settled(self) -> bool:
        return all(line.status == DeliveryStatus.DONE for line in self.deliveries)


_EVENTS = JoinedRead(Event, (), where=("organization_id", "aggregate_type", "aggregate_id"), order_by="t0.sequence")
_DELIVERY = {name: prepared.column(Delivery, name)
             for name in ("event", "id", "subscriber", "status", "attempts", "last_error", "done_at")}
_DELIVERIES = (f"SELECT {', '.join(_DELIVERY.values())} FROM {prepared.table(Delivery)}"
               f" WHERE {_DELIVERY['event']} = ANY(%s) ORDER BY {_DELIVERY['subscriber']}")


def timeline(*, organization_id: int, aggregate_type: str, aggregate_id: str,
             attempts: bool = True) -> list[TimelineEntry]:
    """An aggregate's events in order, each with every subscriber's delivery, attempts, last error
    and latency (event recorded -> delivery done). Scoped to the caller's organisation.
    ``attempts=False``: each delivery's attempt log left empty (one statement fewer, for a reader
    that shows statuses only: the status box, polled while its effects land).

    The events and their deliveries are two fixed statements, prepared (``core.rows.JoinedRead``,
    ``core.prepared``): the ORM's read with its prefetch cost 0.7-1.0 ms of the expense page and of
    the status box, polled every 1.5 s, before either ran (scratch timing in process);
    ``tests/test_timeline_read.py`` proves the entries are the ORM's."""
    events = _EVENTS.all(organization_id, aggregate_type, str(aggregate_id))
    if not events:
        return []
    with prepared.cursor() as cursor:
        cursor.execute(_DELIVERIES, [[event.pk for event in events]])
        rows = cursor.fetchall()
    log: dict[int, list[Attempt]] = {}
    if attempts and rows:
        for attempt in Attempt.objects.filter(delivery_id__in=[row[1] for row in rows]):
            log.setdefault(attempt.delivery_id, []).append(attempt)
    lines: dict = {event.pk: [] for event in events}
    occurred = {event.pk: event.occurred_at for event in events}
    for event_id, pk, subscriber, status, tries, last_error, done_at in rows:
        latency = (done_at - occurred[event_id]).total_seconds() * 1000 if done_at else None
        lines[event_id].append(DeliveryLine(id=pk, subscriber=subscriber, status=status, attempts=tries,
                                            last_error=last_error, done_at=done_at, latency_ms=latency,
                                            attempt_log=log.get(pk, [])))
    return [TimelineEntry(event=event, deliveries=lines[event.pk]) for event in events]


def latest_effects(*, organization_id: int, aggregate_type: str, aggregate_id: str) -> dict[str, str]:
    """Each subscriber's delivery status for the aggregate's latest event, in one query (the
    answer to "did the effects of what I just did land?"). Scoped to the caller's organisation."""
    with prepared.cursor() as cursor:
        cursor.execute(sql.LATEST_EFFECTS, {"org": organization_id, "agg_type": aggregate_type,
                                            "agg_id": str(aggregate_id)})
        return dict(cursor.fetchall())


def status_counts(*, organization_id: int | None = None) -> list[dict]:
    """Per subscriber: count by status, the oldest pending delivery's age, and dead letters."""
    qs = Delivery.objects.all()
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    rows = qs.values("subscriber", "status").annotate(n=Count("id"), oldest=Min("created_at"))
    now = timezone.now()
    table: dict[str, dict] = {name: {"subscriber": name, "pending": 0, "in_flight": 0, "done": 0, "dead": 0,
                                     "oldest_pending_seconds": None} for name in subscribers()}
    for row in rows:
        line = table.setdefault(row["subscriber"], {"subscriber": row["subscriber"], "pending": 0, "in_flight": 0,
                                                    "done": 0, "dead": 0, "oldest_pending_seconds": None})
        line[row["status"]] = row["n"]
        if row["status"] in (DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT):
            age = (now - row["oldest"]).total_seconds()
            previous = line["oldest_pending_seconds"]
            line["oldest_pending_seconds"] = max(age, previous or 0)
    return list(table.values())


def dead_letters(*, organization_id: int | None = None, older_than: timedelta | None = None):
    qs = Delivery.objects.filter(status=DeliveryStatus.DEAD).select_related("event").order_by("-created_at")
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if older_than is not None:
        qs = qs.filter(created_at__lt=timezone.now() - older_than)
    return qs


def catalogue() -> list[dict]:
    """Every event type with its version, fields, publisher and subscribers, from code."""
    subs = subscribers()
    result = []
    for name, cls in event_types().items():
        result.append({
            "type": name,
            "version": cls.version,
            "publisher": cls.publisher,
            "aggregate": cls.aggregate_type,
            "description": (cls.__doc__ or "").strip(),
            "fields": [{"name": f, "type": t} for f, t in cls.fields_description()],
            "subscribers": [{"name": s.name, "queue": s.queue, "max_attempts": s.max_attempts,
                             "timeout": s.timeout} for s in subs.values() if s.wants(name)],
        })
    return result


@dataclass
class RunProgress:
    """How far a backfill or a mass replay got, for the command's bar and the operations page."""

    kind: str  # "backfill" | "replay"
    what: str
    done: int
    total: int
    fraction: float
    rate: float | None  # per second, since the run started
    seconds_left: float | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    quiet_seconds: float  # since its last chunk (an unfinished run: still going, or stopped)
    own: bool = False  # a replay of one organisation's deliveries: its counts are that organisation's

    @property
    def percent(self) -> int:
        return int(self.fraction * 100)


def run_progress(run: BackfillRun | ReplayRun, *, now: datetime | None = None,
                 organization_id: int | None = None) -> RunProgress:
    now = now or timezone.now()
    if isinstance(run, BackfillRun):
        kind, what, done, total = "backfill", run.subscriber, run.events_done, run.events_total
    else:
        kind, what, done, total = "replay", run.description, run.done, run.total
    elapsed = ((run.finished_at or run.updated_at) - run.started_at).total_seconds()
    rate = done / elapsed if elapsed > 0 and done else None
    left = max(0, total - done)
    return RunProgress(kind=kind, what=what, done=done, total=total, fraction=run.fraction, rate=rate,
                       seconds_left=None if run.finished_at else (left / rate if rate else None),
                       started_at=run.started_at, updated_at=run.updated_at, finished_at=run.finished_at,
                       quiet_seconds=max(0.0, (now - run.updated_at).total_seconds()),
                       own=kind == "replay" and organization_id is not None and run.organization_id == organization_id)


def catch_up_runs(*, organization_id: int, recent: int = 5) -> list[RunProgress]:
    """Backfills (of every organisation's events: a subscriber catches up from the whole log)
    and the mass replays of this organisation or of every organisation (the command): the
    unfinished ones and the last few finished, newest first. Counts of runs over every
    organisation are the installation's: the page shows them as a share, a rate and a time left
    (``own`` says which are the organisation's own)."""
    now = timezone.now()
    backfills = [*BackfillRun.objects.filter(finished_at__isnull=True),
                 *BackfillRun.objects.filter(finished_at__isnull=False)[:recent]]
    replays = ReplayRun.objects.filter(Q(organization_id=organization_id) | Q(organization_id__isnull=True))
    replays = [*replays.filter(finished_at__isnull=True), *replays.filter(finished_at__isnull=False)[:recent]]
    runs = [run_progress(run, now=now, organization_id=organization_id) for run in [*backfills, *replays]]
    return sorted(runs, key=lambda r: (r.finished_at is not None, -r.started_at.timestamp()))
