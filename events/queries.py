"""Reads over the outbox: an aggregate's timeline, delivery status by subscriber, the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Prefetch, Subquery
from django.utils import timezone

from .models import Attempt, Delivery, DeliveryStatus, Event
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


def timeline(*, organization_id: int, aggregate_type: str, aggregate_id: str) -> list[TimelineEntry]:
    """An aggregate's events in order, each with every subscriber's delivery, attempts, last error
    and latency (event recorded -> delivery done). Scoped to the caller's organisation."""
    events = (Event.objects.filter(organization_id=organization_id, aggregate_type=aggregate_type,
                                   aggregate_id=str(aggregate_id))
              .order_by("sequence")
              .prefetch_related(Prefetch("deliveries", queryset=Delivery.objects.order_by("subscriber")
                                         .prefetch_related("attempt_log"))))
    entries = []
    for event in events:
        lines = []
        for d in event.deliveries.all():
            latency = (d.done_at - event.occurred_at).total_seconds() * 1000 if d.done_at else None
            lines.append(DeliveryLine(id=d.pk, subscriber=d.subscriber, status=d.status, attempts=d.attempts,
                                      last_error=d.last_error, done_at=d.done_at, latency_ms=latency,
                                      attempt_log=list(d.attempt_log.all())))
        entries.append(TimelineEntry(event=event, deliveries=lines))
    return entries


def latest_effects(*, organization_id: int, aggregate_type: str, aggregate_id: str) -> dict[str, str]:
    """Each subscriber's delivery status for the aggregate's latest event, in one query (the
    answer to "did the effects of what I just did land?"). Scoped to the caller's organisation."""
    latest = (Event.objects.filter(organization_id=organization_id, aggregate_type=aggregate_type,
                                   aggregate_id=str(aggregate_id)).order_by("-sequence").values("id")[:1])
    return dict(Delivery.objects.filter(event_id=Subquery(latest)).order_by("subscriber")
                .values_list("subscriber", "status"))


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
