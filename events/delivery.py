"""Running deliveries: claim with a lease, handle and mark done in one transaction, retry, sweep.

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
  someone replays it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.backoff import backoff_seconds

from .context import TraceContext, tracing
from .events import DeliveryDead
from .hints import push_hint
from .models import Attempt, AttemptOutcome, Delivery, DeliveryStatus, Event
from .registry import FANOUT_QUEUE, Subscriber, get_subscriber, subscribers
from .types import event_type

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """Host and pid of this process, asked at each attempt: a prefork worker's children are forked
    after this module is imported, so a name computed at import would be their parent's."""
    return f"{socket.gethostname()}:{os.getpid()}"



@dataclass(frozen=True)
class Envelope:
    """What a handler knows about the event besides its payload."""

    event_id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    organization_id: int
    aggregate_type: str
    aggregate_id: str
    sequence: int
    actor_id: int | None
    actor_label: str
    correlation_id: str
    causation_id: uuid.UUID | None
    origin: dict
    delivery_id: int

    @classmethod
    def of(cls, row: Event, delivery_id: int) -> Envelope:
        return cls(event_id=row.id, type=row.type, version=row.version, occurred_at=row.occurred_at,
                   organization_id=row.organization_id, aggregate_type=row.aggregate_type,
                   aggregate_id=row.aggregate_id, sequence=row.sequence, actor_id=row.actor_id,
                   actor_label=row.actor_label, correlation_id=row.correlation_id,
                   causation_id=row.causation_id, origin=row.origin, delivery_id=delivery_id)


def lease_for(sub: Subscriber | None) -> timedelta:
    return timedelta(seconds=(sub.timeout if sub else 30) + settings.OUTBOX_LEASE_MARGIN_SECONDS)


# The claim is one statement in autocommit (it was a transaction of four round trips): lock the
# row if it is claimable and nobody holds it (SKIP LOCKED: a live handler holds it), mark the
# attempts of a worker that lost its lease, take the lease, start an attempt, and return the
# event with it. No row back means "not yours"; ``_why_not_claimed`` then says why.
_CLAIM = """
WITH c AS (
    SELECT id, status FROM events_delivery
    WHERE id = %(id)s
      AND (status = 'pending' OR (status = 'in_flight' AND (leased_until IS NULL OR leased_until <= %(now)s)))
    FOR UPDATE SKIP LOCKED
), lost AS (
    UPDATE events_attempt SET outcome = 'lost', finished_at = %(now)s, error = 'worker lost or lease expired'
    WHERE delivery_id IN (SELECT id FROM c WHERE status = 'in_flight') AND outcome = 'running'
), d AS (
    UPDATE events_delivery
    SET status = 'in_flight', attempts = events_delivery.attempts + 1, leased_at = %(now)s,
        leased_until = %(now)s + make_interval(secs => COALESCE(
            (SELECT s.secs FROM unnest(%(names)s::text[], %(secs)s::float8[]) AS s(name, secs)
             WHERE s.name = events_delivery.subscriber), %(default_secs)s)),
        lease_token = %(token)s
    FROM c WHERE events_delivery.id = c.id
    RETURNING events_delivery.id, events_delivery.subscriber, events_delivery.event_id
), a AS (
    INSERT INTO events_attempt (delivery_id, number, started_at, outcome, error, traceback, worker)
    SELECT d.id, (SELECT count(*) FROM events_attempt x WHERE x.delivery_id = d.id) + 1, %(now)s, 'running', '', '',
           %(worker)s
    FROM d
    RETURNING id
)
SELECT a.id, d.subscriber, e.id, e.type, e.version, e.occurred_at, e.organization_id, e.aggregate_type,
       e.aggregate_id, e.sequence, e.actor_id, e.actor_label, e.correlation_id, e.causation_id, e.payload, e.origin
FROM d CROSS JOIN a JOIN events_event e ON e.id = d.event_id
"""

# The handler's transaction starts by locking the delivery, and only if the lease is still ours.
_LOCK_OWN_LEASE = "SELECT 1 FROM events_delivery WHERE id = %s AND lease_token = %s FOR UPDATE"

_MARK_DONE = """
WITH a AS (
    UPDATE events_attempt SET outcome = 'ok', finished_at = %(now)s WHERE id = %(attempt)s
)
UPDATE events_delivery SET status = 'done', done_at = %(now)s, leased_until = NULL, lease_token = NULL,
                           last_error = ''
WHERE id = %(id)s
"""


def _claim_params(delivery_id: int, token: uuid.UUID, now: datetime, worker: str) -> dict:
    leases = {name: lease_for(sub).total_seconds() for name, sub in subscribers().items()}
    return {"id": delivery_id, "now": now, "token": token, "worker": worker[:200], "names": list(leases),
            "secs": list(leases.values()), "default_secs": lease_for(None).total_seconds()}


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
        cursor.execute(_CLAIM, _claim_params(delivery_id, token, now, worker or worker_name()))
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
                cursor.execute(_LOCK_OWN_LEASE, [delivery_id, token])
                if cursor.fetchone() is None:
                    return "skipped: lease taken over"
            if settings.BENCH_SUBSCRIBER_IO_MS:  # measurement only: simulated I/O in every handler
                time.sleep(settings.BENCH_SUBSCRIBER_IO_MS / 1000)
            sub.handler(typed, Envelope.of(row, delivery_id))
            # "done" and the attempt's outcome in one statement, in the handler's transaction.
            with connection.cursor() as cursor:
                cursor.execute(_MARK_DONE, {"id": delivery_id, "attempt": attempt_id, "now": timezone.now()})
            transaction.on_commit(lambda: _push_hint(row, subscriber_name, DeliveryStatus.DONE.value), robust=True)
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
            _announce_dead(delivery, error)
            logger.error("delivery dead after %d attempts: %s", delivery.attempts, error,
                         extra={"delivery_id": delivery_id})
            return "dead"
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(
            delivery.attempts, base=settings.OUTBOX_RETRY_BASE_SECONDS, cap=settings.OUTBOX_RETRY_CAP_SECONDS))
        delivery.save(update_fields=["status", "next_attempt_at", "leased_until", "lease_token", "last_error"])
    logger.warning("delivery failed (attempt %d), next at %s: %s", delivery.attempts,
                   delivery.next_attempt_at.isoformat(), error, extra={"delivery_id": delivery_id})
    return "failed"


def _announce_dead(delivery: Delivery, error: str) -> None:
    # A dead letter is itself an event (admins are notified by a subscriber), except when the
    # dead delivery was of a dead-letter event: that would loop.
    if delivery.event_type == DeliveryDead.type:
        return
    from .bus import publish

    event = Event.objects.only("aggregate_type", "aggregate_id").get(pk=delivery.event_id)
    publish(DeliveryDead(delivery_id=delivery.pk, event_id=delivery.event_id, event_type=delivery.event_type,
                         subscriber=delivery.subscriber, error=error,
                         aggregate_type_of_event=event.aggregate_type,
                         aggregate_id_of_event=event.aggregate_id),
            organization_id=delivery.organization_id, actor_label="event bus")


def aggregate_group(aggregate_type: str, aggregate_id: str) -> str:
    """The channel-layer group that hears about an aggregate's deliveries."""
    return f"{aggregate_type}.{aggregate_id}".replace(":", "-")[:99]


def _push_hint(row: Event, subscriber: str, status: str) -> None:
    """A lossy hint for open pages: "this effect landed, re-read". Never required for correctness."""
    push_hint(aggregate_group(row.aggregate_type, row.aggregate_id), {
        "type": "events.delivery", "event_type": row.type, "subscriber": subscriber, "status": status,
    })


# --- the sweeper -------------------------------------------------------------------------------

def sweep(batch: int | None = None) -> int:
    """Send deliveries that are due or whose lease expired; return how many were sent.

    Safe with several beat processes: rows are taken ``FOR UPDATE SKIP LOCKED`` and pushed
    forward by one lease before their tasks are sent, so two sweepers never send the same row
    in one round. It selects by status and time, never by an id high-water mark (a lower id
    can commit after a higher one).

    A delivery that was sent but never claimed is usually still waiting in the broker's queue
    behind a backlog; sending it again would only lengthen the queue (a storm: each round adds
    the whole backlog once more). So a never-claimed delivery is re-sent only when its queue
    holds fewer messages than there are never-claimed deliveries for it, i.e. when some messages
    must have been lost (a broker restart, a failed send); otherwise it is just looked at again
    one lease later. Retries (claimed before) and expired leases are always sent.
    """
    from .bus import dispatch

    batch = batch or settings.OUTBOX_SWEEP_BATCH
    now = timezone.now()
    resend_after = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    # The broker is asked before any row is locked: no network round trip inside the transaction.
    queue_lengths = {queue: broker_queue_length(queue)
                     for queue in {sub.queue for sub in subscribers().values()} | {FANOUT_QUEUE}}
    with transaction.atomic():
        due = list(Delivery.objects.select_for_update(skip_locked=True)
                   .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
                   .order_by("next_attempt_at").values_list("id", "subscriber", "attempts")[:batch])
        queued_still = _probably_still_queued([(pk, name) for pk, name, attempts in due if attempts == 0],
                                              queue_lengths)
        due = [(pk, name) for pk, name, _ in due if pk not in queued_still]
        # A live handler holds its delivery's row lock for as long as it runs, so SKIP LOCKED
        # passes it by. An in-flight row that nobody holds, claimed more than a moment ago,
        # belongs to a worker that died: it is re-sent at once instead of after its whole lease.
        # (A false positive only wastes a send: the old worker's lease token no longer matches.)
        orphaned = now - timedelta(seconds=settings.OUTBOX_ORPHAN_SECONDS)
        expired = list(Delivery.objects.select_for_update(skip_locked=True)
                       .filter(Q(leased_until__lt=now) | Q(leased_at__lt=orphaned), status=DeliveryStatus.IN_FLIGHT)
                       .order_by("leased_until").values_list("id", "subscriber")[:batch])
        if expired:
            ids = [pk for pk, _ in expired]
            Attempt.objects.filter(delivery_id__in=ids, outcome=AttemptOutcome.RUNNING).update(
                outcome=AttemptOutcome.LOST, finished_at=now, error="worker lost or lease expired")
        rows = due + expired
        if rows or queued_still:
            Delivery.objects.filter(pk__in=[pk for pk, _ in rows] + list(queued_still)).update(
                status=DeliveryStatus.PENDING, next_attempt_at=resend_after, leased_at=None, leased_until=None,
                lease_token=None)
    if queued_still:
        logger.info("sweeper leaves %d never-claimed deliveries to the queue that still holds them",
                    len(queued_still))
    if not rows:
        return 0
    logger.info("sweeper sends %d deliveries (%d due, %d lease expired)", len(rows), len(due), len(expired))
    return dispatch(rows)


def _probably_still_queued(never_claimed: list[tuple[int, str]], queue_lengths: dict[str, int | None]) -> set[int]:
    """Of these due, never-claimed deliveries, those whose queue holds at least as many messages
    as its never-claimed deliveries (so each may still have its message there). Any doubt (the
    broker cannot be asked) answers "not queued": sending twice is safe, losing is not.

    A fan-out message still waiting stands for up to one delivery per subscriber of the queue, so
    each counts as that many: an overestimate, whose only cost is that a lost message waits until
    the fan-out backlog (usually none: fan-out tasks are quick) is worked off."""
    if not never_claimed:
        return set()
    fanout_waiting = queue_lengths.get(FANOUT_QUEUE)
    if fanout_waiting is None:
        return set()
    by_queue: dict[str, list[int]] = {}
    for pk, name in never_claimed:
        sub = get_subscriber(name)
        by_queue.setdefault(sub.queue if sub else "", []).append(pk)
    queue_of = {sub.name: sub.queue for sub in subscribers().values()}
    subscribers_of: dict[str, int] = {}
    for queue in queue_of.values():
        subscribers_of[queue] = subscribers_of.get(queue, 0) + 1
    # Never-claimed deliveries per queue, in one query for all queues.
    never_claimed_in: dict[str, int] = {}
    for name, n in (Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0, subscriber__in=list(queue_of))
                    .values_list("subscriber").annotate(n=Count("id"))):
        never_claimed_in[queue_of[name]] = never_claimed_in.get(queue_of[name], 0) + n
    still = set()
    for queue, ids in by_queue.items():
        length = queue_lengths.get(queue)
        if length is None:
            continue
        if length + subscribers_of.get(queue, 0) * fanout_waiting >= never_claimed_in.get(queue, 0):
            still.update(ids)
    return still


def broker_queue_length(queue: str) -> int | None:
    """Messages waiting in ``queue`` on the Redis broker (kombu keeps one list per priority
    step, named ``queue`` and ``queue\\x06\\x16<priority>``); None if the broker cannot be asked
    within a second."""
    import redis

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            names = [queue] + [f"{queue}\x06\x16{priority}" for priority in range(1, 10)]
            return sum(client.llen(name) for name in names)
        finally:
            client.close()
    except redis.RedisError:
        logger.debug("queue length of %s unknown", queue, exc_info=True)
        return None


def prune_attempts(older_than_days: int | None = None) -> int:
    """Delete attempt rows of done deliveries finished before the retention age. Events stay."""
    days = settings.OUTBOX_ATTEMPT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Attempt.objects.filter(delivery__status=DeliveryStatus.DONE, finished_at__lt=cutoff).delete()
    return deleted


# --- replay and backfill -----------------------------------------------------------------------

def replay(deliveries) -> int:
    """Reset the given deliveries (dead, or pending/failing) to pending with a fresh retry budget
    and send them now. Done deliveries are left alone: replay never repeats an effect."""
    from .bus import dispatch

    now = timezone.now()
    with transaction.atomic():
        rows = list(deliveries.select_for_update(skip_locked=True)
                    .filter(status__in=[DeliveryStatus.DEAD, DeliveryStatus.PENDING])
                    .values_list("id", "subscriber"))
        Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            status=DeliveryStatus.PENDING, attempts=0,
            next_attempt_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))
        transaction.on_commit(lambda: dispatch(rows), robust=True)
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

