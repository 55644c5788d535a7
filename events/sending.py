"""Sending: everything of the bus that talks to the broker, and nothing else.

* ``announce_rollback_unsafe``: one ``events.fan_out`` message for a committed event's deliveries
  (what the request sends, through ``publishing``'s after-commit hook).
* ``dispatch_rollback_unsafe``: one ``events.deliver`` message per delivery (the fan-out task, the
  sweeper, a replay after commit).
* ``sweep``: re-send what is due or whose lease expired, asking the broker first how much of it
  still waits in its queue (``broker_queue_length``).

The names that end in ``_rollback_unsafe`` send at once. Inside a transaction go through
``core.after_commit.send_on_commit`` (``announce_on_commit`` / ``dispatch_on_commit``), so that a
rolled-back transaction sends nothing. None of them raises on a broker failure: the rows are
marked due now and wait for the sweeper, so nothing is lost and no caller sees the outage.

Messages are sent by task name (``DELIVER_TASK``, ``FAN_OUT_TASK``): the tasks themselves live in
``events.tasks``, which sits above this module and calls into it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from datetime import timedelta

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.after_commit import send_on_commit

from . import instruments
from .models import Attempt, AttemptOutcome, Delivery, DeliveryStatus
from .registry import FANOUT_QUEUE, get_subscriber, subscribers

logger = logging.getLogger(__name__)

DELIVER_TASK = "events.deliver"
FAN_OUT_TASK = "events.fan_out"
DRAIN_TASK = "events.drain"
_DRAINING = "outlay:events:draining:"


def announce_rollback_unsafe(deliveries: list[tuple[int, str]]) -> bool:
    """Send one fan-out message for these (delivery id, subscriber) pairs now; a worker sends their
    delivery tasks. Never raises: with the broker down the rows are marked due now and left to
    the sweeper. Returns whether the message went out."""
    try:
        current_app.send_task(FAN_OUT_TASK, ([[delivery_id, name] for delivery_id, name in deliveries],),
                              queue=FANOUT_QUEUE, retry=False)
        return True
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the rows to the sweeper
        logger.warning("broker unreachable, %d deliveries left to the sweeper: %s", len(deliveries), exc)
        _mark_due_now([delivery_id for delivery_id, _ in deliveries])
        return False


def announce_on_commit(deliveries: list[tuple[int, str]]) -> None:
    """``announce_rollback_unsafe`` once the current transaction commits (what ``publish`` does;
    in a web request, once its response is sent: ``core.after_commit``)."""
    if _before_the_response:  # the benchmark's synchronous design: at the commit, inside the request
        transaction.on_commit(functools.partial(_announcer, deliveries))
        return
    send_on_commit(_announcer, deliveries)


def dispatch_rollback_unsafe(deliveries: Iterable[tuple[int, str]]) -> int:
    """Send one delivery task per (delivery id, subscriber name) to its subscriber's queue now;
    return how many were sent. Runs in workers (fan-out, sweeper) and after a replay's commit.

    Never raises: with the broker down it logs, marks the unsent deliveries due now, and
    returns, so the sweeper sends them as soon as the broker is back. The connection and
    publish timeouts are bounded in settings, so nothing hangs here.
    """
    deliveries = list(deliveries)
    sent = 0
    try:
        with current_app.producer_or_acquire() as producer:
            for delivery_id, name in deliveries:
                sub = get_subscriber(name)
                # A delivery task may run a batch: its handlers start within OUTBOX_DRAIN_SECONDS.
                options = {"queue": sub.queue, "soft_time_limit": sub.timeout + settings.OUTBOX_DRAIN_SECONDS,
                           "time_limit": sub.timeout + settings.OUTBOX_DRAIN_SECONDS + 5} if sub else {}
                current_app.send_task(DELIVER_TASK, (delivery_id,), producer=producer, retry=False, **options)
                sent += 1
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the rows to the sweeper
        unsent = [delivery_id for delivery_id, _ in deliveries[sent:]]
        logger.warning("broker unreachable, %d deliveries left to the sweeper: %s", len(unsent), exc)
        _mark_due_now(unsent)
    return sent


def fan_out_rollback_unsafe(deliveries: list[tuple[int, str]]) -> int:
    """What the fan-out task does with a committed event's deliveries: send one delivery task
    each, except to a subscriber whose backlog is being drained (``events.running.drain``): the
    drain claims that row itself, so a message would only be one more to skip. Returns how many
    were sent."""
    draining = draining_subscribers({name for _, name in deliveries})
    return dispatch_rollback_unsafe([(pk, name) for pk, name in deliveries if name not in draining])


def start_drains(subscriber: str) -> bool:
    """Set the drain flag if nobody holds it and send the subscriber's drains
    (``Subscriber.drains``: one, or several for a subscriber that waits on a remote system);
    True if they went out. They share the flag: the last to find the backlog gone clears it."""
    if not start_draining(subscriber):
        return False
    sub = get_subscriber(subscriber)
    return all(drain_rollback_unsafe(subscriber) for _ in range(sub.drains if sub else 1))


def drain_rollback_unsafe(subscriber: str) -> bool:
    """Send one drain task for ``subscriber`` to its queue now. Never raises: if the broker is
    down the flag is dropped, and the fan-out and the sweeper send the deliveries as usual."""
    sub = get_subscriber(subscriber)
    options = {"queue": sub.queue, "soft_time_limit": sub.timeout + settings.OUTBOX_DRAIN_SECONDS,
               "time_limit": sub.timeout + settings.OUTBOX_DRAIN_SECONDS + 5} if sub else {}
    try:
        current_app.send_task(DRAIN_TASK, (subscriber,), retry=False, **options)
        return True
    except Exception as exc:  # noqa: BLE001 - the rows wait; the fan-out and the sweeper send them
        logger.warning("broker unreachable, drain of %s not sent: %s", subscriber, exc)
        stop_draining(subscriber)
        return False


# The drain flag lives in Redis (the cache) with a time to live: if the worker running a drain
# dies, the flag expires within OUTBOX_DRAIN_FLAG_SECONDS and the fan-out sends messages again;
# rows the fan-out passed by in the meantime are sent by the sweeper. It only saves messages:
# without Redis nobody drains, and every delivery gets its message.

def start_draining(subscriber: str) -> bool:
    """Set the drain flag if nobody holds it; True if this caller now runs the drain."""
    try:
        return bool(cache.add(_DRAINING + subscriber, 1, timeout=settings.OUTBOX_DRAIN_FLAG_SECONDS))
    except Exception:
        logger.debug("drain flag of %s not set", subscriber, exc_info=True)
        return False


def keep_draining(subscriber: str) -> None:
    try:
        cache.touch(_DRAINING + subscriber, timeout=settings.OUTBOX_DRAIN_FLAG_SECONDS)
    except Exception:
        logger.debug("drain flag of %s not renewed", subscriber, exc_info=True)


def stop_draining(subscriber: str) -> None:
    try:
        cache.delete(_DRAINING + subscriber)
    except Exception:
        logger.debug("drain flag of %s not cleared", subscriber, exc_info=True)


_BATCH_SIZE = "outlay:events:batch-size:"


def remember_batch_size(subscriber: str, size: int) -> None:
    """Keep a drain's batch size for the drain task it sends on (for as long as the drain flag lives)."""
    try:
        cache.set(_BATCH_SIZE + subscriber, int(size), timeout=settings.OUTBOX_DRAIN_FLAG_SECONDS)
    except Exception:  # only saves a drain growing its batches again
        logger.debug("batch size of %s not kept", subscriber, exc_info=True)


def remembered_batch_size(subscriber: str) -> int | None:
    try:
        size = cache.get(_BATCH_SIZE + subscriber)
    except Exception:  # only saves a drain growing its batches again
        logger.debug("batch size of %s not read", subscriber, exc_info=True)
        return None
    return int(size) if size else None


def draining_subscribers(names: set[str]) -> set[str]:
    """Which of these subscribers are being drained now (none if Redis cannot be asked)."""
    if not names:
        return set()
    try:
        found = cache.get_many([_DRAINING + name for name in names])
    except Exception:  # noqa: BLE001 - in doubt, send: a message too many is harmless
        return set()
    return {key.removeprefix(_DRAINING) for key in found}


def dispatch_on_commit(deliveries: list[tuple[int, str]]) -> None:
    """``dispatch_rollback_unsafe`` once the current transaction commits (replay)."""
    send_on_commit(dispatch_rollback_unsafe, deliveries)


# --- how committed deliveries leave the request: an extension point for measurement ----------

_announcer = announce_rollback_unsafe
_before_the_response = False


def route_committed_deliveries(announcer=None, *, before_the_response: bool = False) -> None:
    """Replace what runs after commit for a published event's deliveries (``None``: the
    product's fan-out message again). Only the benchmark uses it, to measure the naive design
    that runs every subscriber inside the request (``bench/hooks.py``): ``before_the_response``
    runs it at the commit, so the caller waits for it, instead of after the response as the
    product's sends go (``core.after_commit.sends_after_the_response``)."""
    global _announcer, _before_the_response
    _announcer = announcer or announce_rollback_unsafe
    _before_the_response = before_the_response and announcer is not None


def _mark_due_now(delivery_ids: list[int]) -> None:
    try:
        Delivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.PENDING).update(
            next_attempt_at=timezone.now())
    except Exception:
        logger.exception("could not mark unsent deliveries due")


# --- the sweeper -------------------------------------------------------------------------------

def sweep(batch: int | None = None) -> int:
    """Send deliveries that are due or whose lease expired; return how many were sent.

    Commits its own transaction and then sends (call it outside a transaction: beat's task and
    the ``events sweep`` command do).

    Safe with several beat processes: rows are taken ``FOR UPDATE SKIP LOCKED`` and pushed
    forward by one lease before their tasks are sent, so two sweepers never send the same row
    in one round. It selects by status and time, never by an id high-water mark (a lower id
    can commit after a higher one).

    A delivery that was sent but never claimed is usually still waiting in the broker's queue
    behind a backlog; sending it again would only lengthen the queue (a storm: each round adds
    the whole backlog once more). So a never-claimed delivery is re-sent only when its queue
    holds fewer messages than there are never-claimed deliveries for it, i.e. when some messages
    must have been lost (a broker restart, a failed send); otherwise it is just looked at again
    one lease later. The same for a never-claimed delivery of a subscriber being drained (it has
    no message of its own; if its drain died, the flag expires and the next look sends it).
    Retries (claimed before) and expired leases are always sent.
    """
    batch = batch or settings.OUTBOX_SWEEP_BATCH
    now = timezone.now()
    resend_after = now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    # The broker is asked before any row is locked: no network round trip inside the transaction.
    queue_lengths = {queue: broker_queue_length(queue)
                     for queue in {sub.queue for sub in subscribers().values()} | {FANOUT_QUEUE}}
    # A subscriber being drained has no message per delivery: the drain claims them itself.
    draining = draining_subscribers(set(subscribers()))
    with transaction.atomic():
        due = list(Delivery.objects.select_for_update(skip_locked=True)
                   .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
                   .order_by("next_attempt_at").values_list("id", "subscriber", "attempts")[:batch])
        never_claimed = [(pk, name) for pk, name, attempts in due if attempts == 0]
        queued_still = {pk for pk, name in never_claimed if name in draining} | _probably_still_queued(
            [(pk, name) for pk, name in never_claimed if name not in draining], queue_lengths)
        retries = sum(1 for pk, _, attempts in due if attempts and pk not in queued_still)
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
    instruments.sweeper_resent(retries=retries, lost_messages=len(due) - retries, lease_expired=len(expired))
    logger.info("sweeper sends %d deliveries (%d due, %d lease expired)", len(rows), len(due), len(expired))
    return dispatch_rollback_unsafe(rows)


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


def queues_of(subscriber: str) -> list[str]:
    """The broker queues whose waiting messages a drain of ``subscriber`` yields to: its own
    (where its drain message goes too) and the fan-out queue (live events)."""
    sub = get_subscriber(subscriber)
    return sorted({sub.queue if sub else "events", FANOUT_QUEUE})


_waiting_client: tuple[int, redis.Redis] | None = None


def messages_waiting(queues: list[str]) -> bool:
    """Whether any message waits in these broker queues (every priority step, one round trip on
    this process's connection). False if the broker cannot be asked: a drain then just goes on."""
    global _waiting_client
    try:
        if _waiting_client is None or _waiting_client[0] != os.getpid():
            _waiting_client = (os.getpid(), redis.Redis.from_url(
                settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1))
        pipe = _waiting_client[1].pipeline(transaction=False)
        for queue in queues:
            for name in _priority_lists(queue):
                pipe.llen(name)
        return any(pipe.execute())
    except Exception:  # only a hint to yield (any broker or URL error): the drain goes on without it
        logger.debug("queue lengths of %s unknown", queues, exc_info=True)
        return False


def _priority_lists(queue: str) -> list[str]:
    """The Redis lists of a kombu queue: one per priority step, ``queue`` and ``queue\\x06\\x16<n>``."""
    return [queue] + [f"{queue}\x06\x16{priority}" for priority in range(1, 10)]


def broker_queue_length(queue: str) -> int | None:
    """Messages waiting in ``queue`` on the Redis broker (kombu keeps one list per priority
    step, named ``queue`` and ``queue\\x06\\x16<priority>``); None if the broker cannot be asked
    within a second."""
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            return sum(client.llen(name) for name in _priority_lists(queue))
        finally:
            client.close()
    except redis.RedisError:
        logger.debug("queue length of %s unknown", queue, exc_info=True)
        return None
