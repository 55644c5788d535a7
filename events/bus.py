"""``publish()``: write an event and its deliveries in the caller's transaction, send after commit.

This is the transactional outbox. The event row and one delivery row per current subscriber
are written by one SQL statement inside the command's transaction, so they commit or roll back
with the state change. After commit one message goes to the broker: an ``events.fan_out`` task
carrying the event's deliveries, which a worker turns into one ``events.deliver`` task per
subscriber (``dispatch``). The request pays for one broker message however many subscribers
there are. If the broker cannot be reached the rows simply wait and the sweeper sends them
later. Nothing that leaves the database happens before commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from .context import current
from .errors import InvalidEvent, NotInTransaction
from .models import Delivery, Event
from .registry import FANOUT_QUEUE, get_subscriber, subscribers_for
from .types import DomainEvent, event_type

logger = logging.getLogger(__name__)

_INSERT_EVENT_AND_DELIVERIES = """
WITH ev AS (
    INSERT INTO events_event (id, type, version, occurred_at, organization_id, aggregate_type,
                              aggregate_id, sequence, actor_id, actor_label, correlation_id,
                              causation_id, payload, origin)
    SELECT %(id)s, %(type)s, %(version)s, %(now)s, %(org)s, %(agg_type)s, %(agg_id)s,
           COALESCE((SELECT MAX(sequence) FROM events_event
                     WHERE aggregate_type = %(agg_type)s AND aggregate_id = %(agg_id)s), 0) + 1,
           %(actor)s, %(actor_label)s, %(correlation)s, %(causation)s, %(payload)s::jsonb, %(origin)s::jsonb
    RETURNING id, sequence
), d AS (
    INSERT INTO events_delivery (event_id, subscriber, event_type, organization_id, status, attempts,
                                 next_attempt_at, created_at, last_error)
    SELECT ev.id, s.name, %(type)s, %(org)s, 'pending', 0, %(due)s, %(now)s, ''
    FROM ev, unnest(%(subscribers)s::text[]) AS s(name)
    RETURNING id, subscriber
)
SELECT ev.sequence, d.id, d.subscriber FROM ev LEFT JOIN d ON TRUE
"""


def publish(event: DomainEvent, *, organization_id: int, actor_id: int | None = None,
            actor_label: str = "") -> Event:
    """Record ``event`` and one pending delivery per subscriber; dispatch them after commit.

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
        "id": uuid.uuid4(), "type": event.type, "version": event.version, "now": now,
        "org": organization_id, "agg_type": event.aggregate_type, "agg_id": event.aggregate_id,
        "actor": actor_id, "actor_label": actor_label,
        "correlation": ctx.correlation_id if ctx else str(uuid.uuid4()),
        "causation": ctx.causation_id if ctx else None,
        "payload": json.dumps(payload, cls=DjangoJSONEncoder),
        "origin": json.dumps(ctx.origin if ctx and ctx.causation_id is None else {}),
        # The after-commit dispatch owns the delivery until then; the sweeper re-sends it only
        # if it is still pending after that (lost message, broker down, process died).
        "due": now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
        "subscribers": [sub.name for sub in subs],
    }
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_EVENT_AND_DELIVERIES, params)
        rows = cursor.fetchall()
    sequence = rows[0][0]
    deliveries = [(delivery_id, name) for _, delivery_id, name in rows if delivery_id is not None]
    if deliveries and settings.BENCH_SYNC_DELIVERY:
        # Measurement only (bench/): the naive synchronous design, every subscriber inside the request.
        transaction.on_commit(lambda: _run_inline(deliveries), robust=True)
    elif deliveries:
        transaction.on_commit(lambda: announce(deliveries), robust=True)
    row = Event(id=params["id"], type=event.type, version=event.version, occurred_at=now,
                organization_id=organization_id, aggregate_type=event.aggregate_type,
                aggregate_id=event.aggregate_id, sequence=sequence, actor_id=actor_id,
                actor_label=actor_label, correlation_id=params["correlation"],
                causation_id=params["causation"], payload=payload)
    row._state.adding = False
    logger.info("published %s %s:%s#%s deliveries=%d", event.type, event.aggregate_type,
                event.aggregate_id, sequence, len(deliveries), extra={"event_id": str(row.id)})
    return row


def announce(deliveries: list[tuple[int, str]]) -> bool:
    """After commit: send one ``events.fan_out`` message for these (delivery id, subscriber)
    pairs; a worker sends their delivery tasks. Never raises: with the broker down the rows are
    marked due now and left to the sweeper. Returns whether the message went out."""
    from .tasks import fan_out

    try:
        fan_out.apply_async(([[delivery_id, name] for delivery_id, name in deliveries],), queue=FANOUT_QUEUE,
                            retry=False)
        return True
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the rows to the sweeper
        logger.warning("broker unreachable, %d deliveries left to the sweeper: %s", len(deliveries), exc)
        _mark_due_now([delivery_id for delivery_id, _ in deliveries])
        return False


def dispatch(deliveries: Iterable[tuple[int, str]]) -> int:
    """Send one delivery task per (delivery id, subscriber name) to its subscriber's queue; return
    how many were sent. Runs in workers (fan-out, sweeper) and after a replay.

    Never raises: with the broker down it logs, marks the unsent deliveries due now, and
    returns, so the sweeper sends them as soon as the broker is back. The connection and
    publish timeouts are bounded in settings, so nothing hangs here.
    """
    from .tasks import deliver

    deliveries = list(deliveries)
    sent = 0
    try:
        with deliver.app.producer_or_acquire() as producer:
            for delivery_id, name in deliveries:
                sub = get_subscriber(name)
                options = {"queue": sub.queue, "soft_time_limit": sub.timeout,
                           "time_limit": sub.timeout + 5} if sub else {}
                deliver.apply_async((delivery_id,), producer=producer, retry=False, **options)
                sent += 1
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the rows to the sweeper
        unsent = [delivery_id for delivery_id, _ in deliveries[sent:]]
        logger.warning("broker unreachable, %d deliveries left to the sweeper: %s", len(unsent), exc)
        _mark_due_now(unsent)
    return sent


def _mark_due_now(delivery_ids: list[int]) -> None:
    try:
        Delivery.objects.filter(pk__in=delivery_ids, status="pending").update(next_attempt_at=timezone.now())
    except Exception:
        logger.exception("could not mark unsent deliveries due")


def _run_inline(deliveries: list[tuple[int, str]]) -> None:
    from .delivery import run_delivery

    for delivery_id, _ in deliveries:
        run_delivery(delivery_id)
