"""Test-only event types and subscribers, loaded by worker processes and by the test run.

Their effects go to a plain table (``test_effects``, no unique constraint) so a duplicated
effect would show as a second row. Behaviour is steered through Redis keys so a test can make
a subscriber fail, or sleep once, while a real worker runs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import redis
from django.conf import settings
from django.db import connection

from events.registry import subscriber, subscriber_batch
from events.types import DomainEvent

EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS test_effects (
    id bigserial PRIMARY KEY, event_id uuid NOT NULL, subscriber text NOT NULL, note text NOT NULL DEFAULT ''
)
"""


@dataclass(frozen=True, kw_only=True)
class Pinged(DomainEvent):
    """A test event."""

    type: ClassVar[str] = "test.pinged"
    aggregate_type: ClassVar[str] = "test"
    aggregate_field: ClassVar[str] = "key"

    key: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Tallied(DomainEvent):
    """A test event for a subscriber with a batch form (``test.tally``)."""

    type: ClassVar[str] = "test.tallied"
    aggregate_type: ClassVar[str] = "test"
    aggregate_field: ClassVar[str] = "key"

    key: str


@dataclass(frozen=True, kw_only=True)
class Waited(DomainEvent):
    """A test event for a subscriber that waits on a remote system (``test.waits``)."""

    type: ClassVar[str] = "test.waited"
    aggregate_type: ClassVar[str] = "test"
    aggregate_field: ClassVar[str] = "key"

    key: str


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _record(envelope, name: str, note: str = "") -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO test_effects (event_id, subscriber, note) VALUES (%s, %s, %s)",
                       [envelope.event_id, name, note])


@subscriber("test.pinged", name="test.record", timeout=3, max_attempts=5)
def record(event: Pinged, envelope) -> None:
    """Records the ping; sleeps first if told to (once per event), so a test can kill it mid-handler,
    or fails once for an event if told to."""
    sleep = _redis().getdel(f"test:sleep_once:{envelope.event_id}")
    if sleep:
        _redis().set(f"test:sleeping:{envelope.event_id}", "1", ex=60)
        time.sleep(float(sleep))
    if _redis().getdel(f"test:fail_once:{envelope.event_id}"):
        raise RuntimeError("record is told to fail once for this event")
    _record(envelope, "test.record", event.note)


@subscriber("test.pinged", name="test.flaky", timeout=3, max_attempts=4)
def flaky(event: Pinged, envelope) -> None:
    """Fails while the Redis key ``test:fail:test.flaky`` is set; records otherwise."""
    _redis().incr(f"test:calls:test.flaky:{envelope.event_id}")
    if _redis().get("test:fail:test.flaky"):
        _record_attempt_time(envelope)
        raise RuntimeError("flaky is told to fail")
    _record(envelope, "test.flaky")


def _record_attempt_time(envelope) -> None:
    _redis().rpush(f"test:attempt_times:{envelope.event_id}", repr(time.time()))


@subscriber("test.waited", name="test.waits", timeout=5, max_attempts=5, drains=4)
def waits(event: Waited, envelope) -> None:
    """Waits 50 ms (a remote call), then records the effect; four drains work off its backlog at once."""
    time.sleep(0.05)
    _record(envelope, "test.waits")


@subscriber("test.tallied", name="test.tally", timeout=3, max_attempts=5)
def tally(event: Tallied, envelope) -> None:
    """Records the tally, one delivery at a time (note "one"); fails once for an event if told to."""
    if _redis().getdel(f"test:fail_once:{envelope.event_id}"):
        raise RuntimeError("tally is told to fail once for this event")
    _record(envelope, "test.tally", "one")


@subscriber_batch("test.tally")
def tally_batch(deliveries: list) -> None:
    """Records a batch of tallies in one statement (note "batch"), and only then: raises if one of
    its events is told to fail (so the worker must roll these rows back and run them one by one),
    or sleeps once if told to (so a test can kill the worker with the batch's rows written but
    not committed)."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO test_effects (event_id, subscriber, note) "
                       "SELECT e, 'test.tally', 'batch' FROM unnest(%s::uuid[]) AS e",
                       [[envelope.event_id for _, envelope in deliveries]])
    if _redis().exists(*[f"test:fail_once:{envelope.event_id}" for _, envelope in deliveries]):
        raise RuntimeError("a tally of this batch is told to fail")
    sleep = _redis().getdel("test:tally_sleep_once")
    if sleep:
        _redis().set("test:tally_sleeping", "1", ex=60)
        time.sleep(float(sleep))
