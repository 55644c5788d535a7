"""Replaying and backfilling: give deliveries another run, or create them for past events.

* ``replay``: dead (or failing) deliveries back to pending with a fresh retry budget, sent after
  commit. Done deliveries are never touched, so a replay never repeats an effect.
* ``backfill``: deliveries of past events for a subscriber added later, so it catches up from
  the log; the sweeper sends them.

Direction: the admin, the API, the ops page and the ``events`` command call this module; it
writes delivery rows and leaves sending to ``events.sending``. It runs no handler.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Delivery, DeliveryStatus, Event
from .registry import get_subscriber, subscribers
from .sending import dispatch_on_commit


def replay(deliveries) -> int:
    """Reset the given deliveries (dead, or pending/failing) to pending with a fresh retry budget
    and send them once this commits. Done deliveries are left alone: replay never repeats an effect."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(deliveries.select_for_update(skip_locked=True)
                    .filter(status__in=[DeliveryStatus.DEAD, DeliveryStatus.PENDING])
                    .values_list("id", "subscriber"))
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            status=DeliveryStatus.PENDING, attempts=0,
            next_attempt_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))
        dispatch_on_commit(rows)
    return len(rows)


def backfill(subscriber_name: str, *, since: datetime | None = None, batch: int = 5000) -> int:
    """Create deliveries of past events for a subscriber added later, so it catches up from the
    log. Idempotent (one delivery per event and subscriber); the sweeper sends them in order."""
    sub = get_subscriber(subscriber_name)
    if sub is None:
        raise LookupError(f"unknown subscriber {subscriber_name!r}; known: {', '.join(subscribers())}")
    events = Event.objects.order_by("occurred_at", "sequence")
    if "*" not in sub.event_types:
        events = events.filter(type__in=sub.event_types)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    events = events.exclude(deliveries__subscriber=sub.name)
    created = 0
    now = timezone.now()
    chunk: list[Delivery] = []
    for event_id, type_name, org_id in events.values_list("id", "type", "organization_id").iterator(chunk_size=batch):
        chunk.append(Delivery(event_id=event_id, subscriber=sub.name, event_type=type_name,
                              organization_id=org_id, next_attempt_at=now, created_at=now))
        if len(chunk) >= batch:
            created += len(Delivery.objects.bulk_create(chunk, ignore_conflicts=True))
            chunk = []
    if chunk:
        created += len(Delivery.objects.bulk_create(chunk, ignore_conflicts=True))
    return created


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
