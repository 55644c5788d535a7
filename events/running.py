"""Running deliveries (in a worker): claim with a lease, handle and mark done in one
transaction, record a failure and schedule its retry, give up into a dead letter.

The guarantees, and where each comes from:

* **Effect once.** A handler's writes and ``status = done`` commit in one transaction under a
  row lock on the delivery; a second message for a done delivery returns at once.
* **Nobody runs it twice at the same time.** The claim takes ``FOR UPDATE SKIP LOCKED`` and a
  lease (``leased_until`` + a token); a message that finds a live lease, or the row locked,
  returns at once. The handler transaction re-checks the token.
* **Nothing lost.** A worker killed mid-handler rolls its transaction back; the delivery stays
  ``in_flight`` until its lease expires, then the sweeper sends it again.
* **Failures are spaced out.** An error records an ``Attempt`` and schedules the next try with
  capped exponential backoff and jitter; after ``max_attempts`` the delivery is ``dead`` until
  someone replays it (``events.replaying``).

Direction: ``events.tasks`` calls this module; it publishes only the bus's own dead-letter event
(through ``events.publishing.publish``, like any publisher) and never talks to the broker.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import traceback
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.after_commit import send_on_commit

from . import sql
from .context import TraceContext, tracing
from .envelope import Envelope
from .events import DeliveryDead
from .hints import aggregate_group, push_hint_rollback_unsafe
from .models import Attempt, AttemptOutcome, Delivery, DeliveryStatus, Event
from .publishing import publish
from .registry import Subscriber, get_subscriber, subscribers
from .types import event_type

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """Host and pid of this process, asked at each attempt: a prefork worker's children are forked
    after this module is imported, so a name computed at import would be their parent's."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempts: int) -> float:
    """Delay before try ``attempts + 1``: capped exponential, jittered within its upper half.

    "Equal jitter" rather than full jitter: a full-jitter delay can be ~0, which retries a
    failing dependency at once and lets a later delay be shorter than an earlier one. Keeping
    each delay in [d/2, d] spreads retries out and still makes every gap longer than the last.
    """
    ceiling = min(settings.OUTBOX_RETRY_CAP_SECONDS, settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def lease_for(sub: Subscriber | None) -> timedelta:
    return timedelta(seconds=(sub.timeout if sub else 30) + settings.OUTBOX_LEASE_MARGIN_SECONDS)


def _claim_params(delivery_id: int, token: uuid.UUID, now: datetime, worker: str) -> dict:
    leases = {name: lease_for(sub).total_seconds() for name, sub in subscribers().items()}
    return sql.with_statuses({
        "id": delivery_id, "now": now, "token": token, "worker": worker[:200], "names": list(leases),
        "secs": list(leases.values()), "default_secs": lease_for(None).total_seconds()})


def _why_not_claimed(delivery_id: int, now: datetime) -> str:
    row = Delivery.objects.filter(pk=delivery_id).values_list("status", "leased_until").first()
    if row is None:
        return "skipped: unknown delivery"
    status, leased_until = row
    if status in (DeliveryStatus.DONE, DeliveryStatus.DEAD):
        return f"skipped: already {status}"
    if status == DeliveryStatus.IN_FLIGHT and leased_until and leased_until > now:
        return "skipped: leased by another worker"
    return "skipped: locked by another worker"


def run_delivery(delivery_id: int, *, worker: str | None = None) -> str:
    """Handle one delivery; return what happened ("done", "failed", "dead", "skipped: ...").

    Three round trips around the handler's own statements: the claim (autocommit), then in one
    transaction the lock on our own lease, the handler, and "done"."""
    token = uuid.uuid4()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql.CLAIM, _claim_params(delivery_id, token, now, worker or worker_name()))
        claimed = cursor.fetchone()
    if claimed is None:
        return _why_not_claimed(delivery_id, now)
    attempt_id, subscriber_name, *event_columns = claimed
    row = _event_row(event_columns)
    sub = get_subscriber(subscriber_name)
    ctx = TraceContext(correlation_id=row.correlation_id, causation_id=row.id, delivery_id=delivery_id)
    try:
        if sub is None:
            raise LookupError(f"no subscriber named {subscriber_name!r} is registered in this process")
        typed = event_type(row.type).from_payload(row.payload)
        with tracing(ctx), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql.LOCK_OWN_LEASE, {"id": delivery_id, "token": token})
                if cursor.fetchone() is None:
                    return "skipped: lease taken over"
            sub.handler(typed, Envelope.of(row, delivery_id))
            with connection.cursor() as cursor:
                cursor.execute(sql.MARK_DONE, sql.with_statuses(
                    {"id": delivery_id, "attempt": attempt_id, "now": timezone.now()}))
            _hint_on_commit(row, subscriber_name, DeliveryStatus.DONE)
        logger.info("delivered %s to %s", row.type, subscriber_name,
                    extra={"delivery_id": delivery_id, "event_id": str(row.id)})
        return "done"
    except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
        with tracing(ctx):
            return _record_failure(delivery_id, token, attempt_id, sub, exc, traceback.format_exc())


def _event_row(columns: list) -> Event:
    """An Event from the claim's columns (jsonb arrives as text on Django's psycopg connection)."""
    (event_id, type_, version, occurred_at, organization_id, aggregate_type, aggregate_id, sequence, actor_id,
     actor_label, correlation_id, causation_id, payload, origin) = columns
    row = Event(id=event_id, type=type_, version=version, occurred_at=occurred_at, organization_id=organization_id,
                aggregate_type=aggregate_type, aggregate_id=aggregate_id, sequence=sequence, actor_id=actor_id,
                actor_label=actor_label, correlation_id=correlation_id, causation_id=causation_id,
                payload=json.loads(payload) if isinstance(payload, str) else payload,
                origin=json.loads(origin) if isinstance(origin, str) else origin)
    row._state.adding = False
    return row


def _record_failure(delivery_id: int, token: uuid.UUID, attempt_id: int, sub: Subscriber | None,
                    exc: BaseException, trace: str) -> str:
    now = timezone.now()
    error = f"{exc.__class__.__name__}: {exc}"[:2000]
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.lease_token != token:
            return "skipped: lease taken over"
        Attempt.objects.filter(pk=attempt_id).update(outcome=AttemptOutcome.ERROR, finished_at=now,
                                                     error=error, traceback=trace[-20000:])
        delivery.leased_until = None
        delivery.lease_token = None
        delivery.last_error = error
        max_attempts = sub.max_attempts if sub else 10
        if delivery.attempts >= max_attempts:
            delivery.status = DeliveryStatus.DEAD
            delivery.save(update_fields=["status", "leased_until", "lease_token", "last_error"])
            _publish_dead_letter(delivery, error)
            logger.error("delivery dead after %d attempts: %s", delivery.attempts, error,
                         extra={"delivery_id": delivery_id})
            return "dead"
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(delivery.attempts))
        delivery.save(update_fields=["status", "next_attempt_at", "leased_until", "lease_token", "last_error"])
    logger.warning("delivery failed (attempt %d), next at %s: %s", delivery.attempts,
                   delivery.next_attempt_at.isoformat(), error, extra={"delivery_id": delivery_id})
    return "failed"


def _publish_dead_letter(delivery: Delivery, error: str) -> None:
    # A dead letter is itself an event (admins are notified by a subscriber), except when the
    # dead delivery was of a dead-letter event: that would loop.
    if delivery.event_type == DeliveryDead.type:
        return
    event = Event.objects.only("aggregate_type", "aggregate_id").get(pk=delivery.event_id)
    publish(DeliveryDead(delivery_id=delivery.pk, event_id=delivery.event_id, event_type=delivery.event_type,
                         subscriber=delivery.subscriber, error=error,
                         aggregate_type_of_event=event.aggregate_type,
                         aggregate_id_of_event=event.aggregate_id),
            organization_id=delivery.organization_id, actor_label="event bus")


def _hint_on_commit(row: Event, subscriber: str, status: str) -> None:
    """A lossy hint for open pages, "this effect landed, re-read", once the effect has committed."""
    send_on_commit(push_hint_rollback_unsafe, aggregate_group(row.aggregate_type, row.aggregate_id), {
        "type": "events.delivery", "event_type": row.type, "subscriber": subscriber, "status": str(status),
    })
