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

* **Backlogs are amortised.** When deliveries wait, one claim takes a batch of one subscriber's
  (``run_delivery(batch=N)``, ``drain``): one statement, one transaction, the handlers one after
  the other in one savepoint, one commit. If one raises, that savepoint is rolled back, that one
  is recorded as failed, and the others run again one by one in a savepoint each. With no
  backlog a batch is the one delivery. A subscriber with a batch form
  (``events.registry.subscriber_batch``) gets the whole batch in one call, in one savepoint; if
  that raises, the batch falls back to a savepoint per delivery. So a handler may run more than
  once in one attempt, rolled back in between: its effects belong in the database (or after
  commit, ``core.after_commit``), as they always had to for retries.

Direction: ``events.tasks`` calls this module; it publishes only the bus's own dead-letter event
(through ``events.publishing.publish``, like any publisher) and asks ``events.sending`` to start
or continue a drain.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from core import prepared
from core.after_commit import send_on_commit
from core.backoff import backoff_seconds

from . import instruments, sending, spans, sql
from .context import TraceContext, tracing
from .envelope import Envelope
from .events import DeliveryDead
from .hints import aggregate_group, push_hints_rollback_unsafe
from .models import Attempt, AttemptOutcome, Delivery, DeliveryStatus, Event
from .publishing import publish
from .registry import Subscriber, get_subscriber, subscribers
from .types import event_type

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """Host and pid of this process, asked at each attempt: a prefork worker's children are forked
    after this module is imported, so a name computed at import would be their parent's."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_for(sub: Subscriber | None) -> timedelta:
    return timedelta(seconds=(sub.timeout if sub else 30) + settings.OUTBOX_LEASE_MARGIN_SECONDS)


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


@dataclass(frozen=True)
class Claimed:
    """One delivery this worker holds the lease of, with its event."""

    attempt_id: int
    delivery_id: int
    subscriber: str
    row: Event

    @property
    def trace(self) -> TraceContext:
        return TraceContext(correlation_id=self.row.correlation_id, causation_id=self.row.id,
                            delivery_id=self.delivery_id)


def run_delivery(delivery_id: int, *, batch: int = 1, worker: str | None = None) -> str:
    """Handle one delivery; return what happened ("done", "failed", "dead", "skipped: ...").

    With ``batch > 1`` the same claim also takes up to ``batch - 1`` more waiting deliveries of
    the same subscriber (a backlog), and all of them run in one transaction (see ``_run``); the
    answer is still about ``delivery_id``. With no backlog that is just this one delivery: the
    quiet path is the same three round trips around the handler (claim in autocommit; lock,
    handler and "done" in one transaction). A full batch means more are waiting: a drain of the
    subscriber starts (``drain``), unless one runs already."""
    claimed, token, now = _claim(delivery_id=delivery_id, subscriber=None, more=batch - 1, worker=worker)
    outcomes = _run(claimed, token, time.monotonic() + settings.OUTBOX_DRAIN_SECONDS) if claimed else {}
    if batch > 1 and len(claimed) >= batch and claimed[0].subscriber:
        sending.start_drains(claimed[0].subscriber)
    return outcomes.get(delivery_id) or _why_not_claimed(delivery_id, now)


def drain(subscriber_name: str, *, batch: int | None = None, seconds: float | None = None,
          yield_to_waiting: bool = False) -> int:
    """Run batches of a subscriber's waiting deliveries for up to ``seconds``; return how many ran.

    Runs as one task while the subscriber has a backlog, and sends itself again at the end of
    its time (to the tail of the queue, so live messages behind it are not starved). While it
    runs, a flag tells the fan-out not to send this subscriber's delivery messages at all: the
    drain claims those rows itself (``events.sending.fan_out_rollback_unsafe``). When a batch
    comes back short the backlog is gone: the flag is cleared first and the claim looked at
    once more, so that a delivery whose fan-out saw the flag just before is not left behind.

    With ``yield_to_waiting`` (the drain task) it also ends its time early, after a batch, when
    messages wait in its subscriber's queue or the fan-out queue (``sending.messages_waiting``):
    a live approval's deliveries then go before the rest of a backfill, whose drain sends itself
    again behind them. A live delivery waits at most one batch (``OUTBOX_BATCH_TARGET_SECONDS``)."""
    queues = sending.queues_of(subscriber_name) if yield_to_waiting else []
    fixed = batch is not None
    # a drain that yielded goes on at the pace its last batch measured, not from the smallest size
    batch = batch or sending.remembered_batch_size(subscriber_name) or settings.OUTBOX_BATCH_SIZE
    deadline = time.monotonic() + (settings.OUTBOX_DRAIN_SECONDS if seconds is None else seconds)
    ran = 0
    while True:
        started = time.monotonic()
        claimed, token, _ = _claim(delivery_id=None, subscriber=subscriber_name, more=batch)
        if claimed:
            _run(claimed, token, deadline)
        ran += len(claimed)
        if len(claimed) < batch:
            sending.stop_draining(subscriber_name)
            claimed, token, _ = _claim(delivery_id=None, subscriber=subscriber_name, more=batch)
            if claimed:
                _run(claimed, token, deadline)
            ran += len(claimed)
            if len(claimed) < batch or not sending.start_draining(subscriber_name):
                return ran
        sending.keep_draining(subscriber_name)
        if not fixed:
            batch = next_batch_size(len(claimed), time.monotonic() - started)
        if time.monotonic() >= deadline or (queues and sending.messages_waiting(queues)):
            if not fixed:
                sending.remember_batch_size(subscriber_name, batch)
            sending.drain_rollback_unsafe(subscriber_name)
            return ran


def next_batch_size(ran: int, seconds: float) -> int:
    """The size of a drain's next batch: as many deliveries as the last batch's pace fits into
    ``OUTBOX_BATCH_TARGET_SECONDS``, between ``OUTBOX_BATCH_SIZE`` and ``OUTBOX_BATCH_MAX``. A
    subscriber whose deliveries take a millisecond gets batches of hundreds (the claim, the
    commit and the batch form's statements amortised over more); one whose handlers take 50 ms
    keeps small batches, so that a batch's row locks and its transaction stay short."""
    pace = seconds / max(ran, 1)
    fits = int(settings.OUTBOX_BATCH_TARGET_SECONDS / pace) if pace > 0 else settings.OUTBOX_BATCH_MAX
    return max(settings.OUTBOX_BATCH_SIZE, min(settings.OUTBOX_BATCH_MAX, fits))


def _claim(*, delivery_id: int | None, subscriber: str | None, more: int,
           worker: str | None = None) -> tuple[list[Claimed], uuid.UUID, datetime]:
    token = uuid.uuid4()
    now = timezone.now()
    leases = {name: lease_for(sub).total_seconds() for name, sub in subscribers().items()}
    params = sql.with_statuses({
        "id": delivery_id, "subscriber": subscriber, "more": max(0, more), "now": now, "token": token,
        "worker": (worker or worker_name())[:200], "names": list(leases), "secs": list(leases.values()),
        "default_secs": lease_for(None).total_seconds()})
    with prepared.cursor() as cursor:
        cursor.execute(sql.CLAIM, params)
        rows = cursor.fetchall()
    return [Claimed(attempt_id=attempt_id, delivery_id=claimed_id, subscriber=name, row=_event_row(columns))
            for attempt_id, claimed_id, name, *columns in rows], token, now


def _run(claimed: list[Claimed], token: uuid.UUID, deadline: float) -> dict[int, str]:
    """``_run_batch``, and each attempt's outcome counted (``events.instruments``)."""
    outcomes = _run_batch(claimed, token, deadline)
    for item in claimed:
        instruments.attempt_finished(item.subscriber, outcomes.get(item.delivery_id, "skipped"), item.row.occurred_at)
    return outcomes


def _run_batch(claimed: list[Claimed], token: uuid.UUID, deadline: float) -> dict[int, str]:
    """Run claimed deliveries in one transaction and one commit; return each one's outcome.

    In a batch the handlers run in one savepoint (``_handle_in_one_savepoint``), and if one fails
    the others run again one by one, each in its own savepoint with the checks PostgreSQL would
    defer to commit at its end, so one failure rolls back only its own handler: its attempt,
    back-off and dead letter are recorded as for a single delivery, and the others commit. A single
    delivery needs no savepoint: a failure rolls the transaction back and is recorded after. A
    subscriber with a batch form first gets all of its runnable deliveries in one call
    (``_handle_as_one_batch``); only if that raises do they run one by one as above.

    No handler starts after ``deadline`` (the ones left are released, untried, for the next
    claim), so a task's time limit (its subscriber's timeout plus ``OUTBOX_DRAIN_SECONDS``) is
    only reached by a handler that overruns its own timeout."""
    single = len(claimed) == 1
    outcomes: dict[int, str] = {}
    done: list[Claimed] = []
    unstarted: list[Claimed] = []
    try:
        with transaction.atomic():
            with prepared.cursor() as cursor:
                cursor.execute(sql.LOCK_OWN_LEASES, {"ids": [c.delivery_id for c in claimed], "token": token})
                ours = {delivery_id for (delivery_id,) in cursor.fetchall()}
            runnable = []
            for item in claimed:
                if item.delivery_id in ours:
                    runnable.append(item)
                else:
                    outcomes[item.delivery_id] = "skipped: lease taken over"
            failures = []
            fell_back = False  # time was spent on this batch already: the deadline holds from the first
            as_one = _handle_as_one_batch(runnable)
            if as_one:
                done, runnable = runnable, []
            elif as_one is None and len(runnable) > 1:
                handled, rest, failed = _handle_in_one_savepoint(runnable, deadline)
                if handled is not None:
                    done, unstarted, runnable = handled, rest, []
                else:  # the one that failed is recorded below, not run again; the others one by one
                    if failed is not None:
                        failures.append(failed)
                    runnable, fell_back = rest, True
            else:
                fell_back = as_one is False
            for index, item in enumerate(runnable):
                if (index or fell_back) and time.monotonic() >= deadline:
                    unstarted = runnable[index:]
                    break
                try:
                    with tracing(item.trace), spans.delivery_span(item.subscriber, item.delivery_id, item.row.origin), \
                            (contextlib.nullcontext() if single else transaction.atomic()):
                        _handle(item)
                        if not single:
                            with connection.cursor() as cursor:
                                cursor.execute(sql.CHECK_DEFERRED_CONSTRAINTS)
                    done.append(item)
                except Exception as exc:
                    if single:
                        raise
                    failures.append((item, exc, traceback.format_exc()))
            if done:
                with prepared.cursor() as cursor:
                    cursor.execute(sql.MARK_DONE, sql.with_statuses({
                        "ids": [c.delivery_id for c in done], "attempts": [c.attempt_id for c in done],
                        "now": timezone.now()}))
            if unstarted:
                with connection.cursor() as cursor:
                    cursor.execute(sql.RELEASE, sql.with_statuses({
                        "ids": [c.delivery_id for c in unstarted], "attempts": [c.attempt_id for c in unstarted],
                        "token": token}))
                for item in unstarted:
                    outcomes[item.delivery_id] = "skipped: no time left in its batch"
            for item, exc, trace in failures:
                with tracing(item.trace):
                    outcomes[item.delivery_id] = _record_failure(item.delivery_id, token, item.attempt_id,
                                                                 get_subscriber(item.subscriber), exc, trace)
            _hints_on_commit(done, DeliveryStatus.DONE)
    except Exception as exc:  # noqa: BLE001 - the transaction failed as a whole: each delivery records it
        trace = traceback.format_exc()
        for item in claimed:
            if not outcomes.get(item.delivery_id, "").startswith("skipped"):
                with tracing(item.trace):
                    outcomes[item.delivery_id] = _record_failure(item.delivery_id, token, item.attempt_id,
                                                                 get_subscriber(item.subscriber), exc, trace)
        return outcomes
    for item in done:
        outcomes[item.delivery_id] = "done"
        logger.info("delivered %s to %s", item.row.type, item.subscriber,
                    extra={"delivery_id": item.delivery_id, "event_id": str(item.row.id)})
    return outcomes


def _handle(item: Claimed) -> None:
    sub = get_subscriber(item.subscriber)
    if sub is None:
        raise LookupError(f"no subscriber named {item.subscriber!r} is registered in this process")
    sub.handler(*_arguments(item))


def _handle_as_one_batch(items: list[Claimed]) -> bool | None:
    """Run several deliveries of one subscriber through its batch form (``subscriber_batch``) in
    one call and one savepoint; return whether that landed (None: there is no batch form, or one
    delivery). False, with nothing of it kept, when the call raised (one bad event, say): the
    caller then runs the same deliveries one by one, so that only the one that fails there fails,
    and is retried alone.

    The call runs under no delivery's trace context (its span links every event's publisher): a
    handler that publishes events of its own should not declare a batch form."""
    if len(items) < 2:
        return None
    sub = get_subscriber(items[0].subscriber)
    if sub is None or sub.batch_handler is None or any(item.subscriber != sub.name for item in items):
        return None
    try:
        with spans.batch_span(sub.name, [item.delivery_id for item in items], [item.row.origin for item in items]), \
                transaction.atomic():
            sub.batch_handler([_arguments(item) for item in items])
            with connection.cursor() as cursor:
                cursor.execute(sql.CHECK_DEFERRED_CONSTRAINTS)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the one-by-one run finds and records it
        logger.warning("the batch form of %s failed on %d deliveries, running them one by one: %s: %s",
                       sub.name, len(items), exc.__class__.__name__, exc)
        return False
    return True


def _handle_in_one_savepoint(items: list[Claimed], deadline: float
                             ) -> tuple[list[Claimed] | None, list[Claimed], tuple[Claimed, Exception, str] | None]:
    """Run several deliveries' handlers one after the other in one savepoint, the checks
    PostgreSQL defers to commit once at its end. Returns (handled, not started for lack of time,
    None) when all landed. When one raised, nothing of the savepoint is kept and it returns
    (None, the others, (that delivery, its exception, its traceback)): the caller records that
    one's failure (it is not run again in this batch: it retries alone, after its back-off) and
    runs the others one by one in a savepoint each. When the deferred checks failed, which
    belong to no one handler: (None, all of them, None), all one by one.

    The common case of a backlog (nobody fails) then costs each delivery its handler's own
    statements and no more: a savepoint, its release and the deferred checks per handler were
    three round trips of the four a one-row handler made (``bench/profile_delivery.py``). What a
    handler registers with ``on_commit`` inside the rolled-back savepoint is dropped with it."""
    handled: list[Claimed] = []
    current: Claimed | None = None
    try:
        with transaction.atomic():
            for index, item in enumerate(items):
                if index and time.monotonic() >= deadline:
                    break
                current = item
                with tracing(item.trace), spans.delivery_span(item.subscriber, item.delivery_id, item.row.origin):
                    _handle(item)
                if connection.needs_rollback:  # it swallowed an error of its own atomic block: its fault
                    raise TransactionManagementError(f"the handler of delivery {item.delivery_id} left its "
                                                     "transaction marked for rollback")
                handled.append(item)
            current = None  # a deferred check that fails belongs to no one handler: all run one by one
            with connection.cursor() as cursor:
                cursor.execute(sql.CHECK_DEFERRED_CONSTRAINTS)
    except Exception as exc:  # noqa: BLE001 - recorded as that delivery's failure, or found one by one
        if current is None or _aborted_before(exc):
            # no one handler to blame: a deferred check, or a statement refused because an earlier
            # handler swallowed an error and left the transaction aborted
            return None, items, None
        return None, [item for item in items if item is not current], (current, exc, traceback.format_exc())
    return handled, items[len(handled):], None


def _aborted_before(exc: Exception) -> bool:
    """Whether ``exc`` says the transaction was already aborted (by an earlier statement)."""
    cause = exc.__cause__ or exc
    return isinstance(cause, psycopg.errors.InFailedSqlTransaction)


def _arguments(item: Claimed) -> tuple[object, Envelope]:
    """What a handler is called with: the typed event and its envelope."""
    return event_type(item.row.type).from_payload(item.row.payload), Envelope.of(item.row, item.delivery_id)


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
        delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(
            delivery.attempts, base=settings.OUTBOX_RETRY_BASE_SECONDS, cap=settings.OUTBOX_RETRY_CAP_SECONDS))
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


def _hints_on_commit(items: list[Claimed], status: str) -> None:
    """Lossy hints for open pages, "this effect landed, re-read", once the effects have committed:
    one hop to the hint loop for the batch, and none for an event older than
    ``OUTBOX_HINT_MAX_AGE_SECONDS`` (a backfill's or a late replay's: no page waits on it, and one
    that shows it polls)."""
    oldest = timezone.now() - timedelta(seconds=settings.OUTBOX_HINT_MAX_AGE_SECONDS)
    hints = [(aggregate_group(item.row.aggregate_type, item.row.aggregate_id), {
        "type": "events.delivery", "event_type": item.row.type, "subscriber": item.subscriber, "status": str(status),
    }) for item in items if item.row.occurred_at >= oldest]
    if hints:
        send_on_commit(push_hints_rollback_unsafe, hints)
