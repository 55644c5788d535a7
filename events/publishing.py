"""Publishing: ``publish()`` writes an event and its deliveries in the caller's transaction.

This is the transactional outbox. The event row and one delivery row per current subscriber
are written by one SQL statement inside the command's transaction, so they commit or roll back
with the state change. Only after commit does anything go to the broker: one fan-out message
for the event's deliveries (``events.sending.announce_on_commit``), which a worker turns into
one delivery task per subscriber. The request pays for one broker message however many
subscribers there are. If the broker cannot be reached the rows simply wait and the sweeper
sends them later.

Direction: publishing -> sending (after commit) -> the broker -> ``events.tasks`` ->
``events.running``. Nothing here runs a handler or talks to the broker itself.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone
from uuid_utils.compat import uuid7

from core import prepared

from . import spans, sql
from .context import current
from .errors import InvalidEvent, NotInTransaction
from .models import DeliveryStatus, Event
from .registry import subscribers_for
from .sending import announce_on_commit
from .types import DomainEvent, event_type

logger = logging.getLogger(__name__)


def publish(event: DomainEvent, *, organization_id: int, actor_id: int | None = None,
            actor_label: str = "") -> Event:
    """Record ``event`` and one pending delivery per subscriber; announce them after commit.
    Returns the event row, with ``delivery_statuses`` (subscriber -> "pending") beside it.

    Refuses (``NotInTransaction``) outside a transaction: an event must commit together with
    the state change it describes. Refuses an unregistered type or a payload that does not
    validate (``UnknownEventType`` / ``InvalidEvent``). The per-aggregate sequence is
    ``max + 1``; callers lock their aggregate row first, and a unique constraint makes a fork
    impossible even if one forgets.
    """
    if not connection.in_atomic_block:
        raise NotInTransaction("publish() must run inside transaction.atomic()")
    if event_type(event.type) is not type(event):
        raise InvalidEvent(f"{type(event).__name__} is not the registered class for {event.type!r}")
    payload = event.to_payload()  # re-validated on construction; canonical form
    ctx = current()
    now = timezone.now()
    subs = subscribers_for(event.type)
    params = {
        # UUIDv7: time-ordered, so the primary key's and (event, subscriber) index's inserts land
        # on their newest pages, cached, and not on a random page of an index of millions
        "id": uuid7(), "type": event.type, "version": event.version, "now": now,
        "org": organization_id, "agg_type": event.aggregate_type, "agg_id": event.aggregate_id,
        "actor": actor_id, "actor_label": actor_label,
        "correlation": ctx.correlation_id if ctx else str(uuid.uuid4()),
        "causation": ctx.causation_id if ctx else None,
        "payload": json.dumps(payload, cls=DjangoJSONEncoder),
        # The request's origin on the first event of a chain; on every event, the trace context
        # current when it is published (events.spans: its deliveries' spans link back to it).
        "origin": json.dumps({**(ctx.origin if ctx and ctx.causation_id is None else {}),
                              **spans.current_traceparent()}),
        # The after-commit announcement owns the delivery until then; the sweeper re-sends it
        # only if it is still pending after that (lost message, broker down, process died).
        "due": now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
        "subscribers": [sub.name for sub in subs],
    }
    with spans.publish_span(event.type), prepared.cursor() as cursor:
        cursor.execute(sql.INSERT_EVENT_AND_DELIVERIES, sql.with_statuses(params))
        rows = cursor.fetchall()
    sequence = rows[0][0]
    deliveries = [(delivery_id, name) for _, delivery_id, name in rows if delivery_id is not None]
    if deliveries:
        announce_on_commit(deliveries)
    row = Event(id=params["id"], type=event.type, version=event.version, occurred_at=now,
                organization_id=organization_id, aggregate_type=event.aggregate_type,
                aggregate_id=event.aggregate_id, sequence=sequence, actor_id=actor_id,
                actor_label=actor_label, correlation_id=params["correlation"],
                causation_id=params["causation"], payload=payload)
    row._state.adding = False
    # What the caller may answer as the event's effects without reading them back: each
    # subscriber's delivery, pending as of this commit.
    row.delivery_statuses = {name: DeliveryStatus.PENDING.value for _, name in sorted(deliveries, key=lambda d: d[1])}
    logger.info("published %s %s:%s#%s deliveries=%d", event.type, event.aggregate_type,
                event.aggregate_id, sequence, len(deliveries), extra={"event_id": str(row.id)})
    return row
