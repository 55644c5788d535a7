"""Bench-only subscribers and tasks, loaded through OUTLAY_EXTRA_SUBSCRIBERS=bench.subscribers.

``BENCH_EXTRA_SUBSCRIBERS=N`` registers N more subscribers of ``expense.approved`` (fan-out
scenario); each does nothing but the simulated I/O that every handler gets in a bench run.
``bench.noop`` is the raw Celery no-op task for the "machine's limit" scenario. The measurement
switches (simulated I/O, synchronous baseline) are installed last, by ``bench.hooks``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

import redis
from celery import shared_task
from django.conf import settings
from django.db import connection

from bench import hooks
from events.registry import subscriber, subscriber_batch
from events.types import DomainEvent


def _extra(event, envelope) -> None:
    """A bench subscriber with no effect of its own."""


for _i in range(int(os.environ.get("BENCH_EXTRA_SUBSCRIBERS", "0"))):
    subscriber("expense.approved", name=f"bench.extra_{_i:02d}")(_extra)



@dataclass(frozen=True, kw_only=True)
class BenchHappened(DomainEvent):
    """A past event of the bench's backfill scenario (written straight into the log)."""

    type: ClassVar[str] = "bench.happened"
    aggregate_type: ClassVar[str] = "bench"
    aggregate_field: ClassVar[str] = "key"

    key: str


CATCH_UP = "bench.catch_up"
CATCH_UP_DDL = ("CREATE TABLE IF NOT EXISTS bench_catch_up (event_id uuid PRIMARY KEY);"
                "CREATE TABLE IF NOT EXISTS bench_catch_up_one_by_one (event_id uuid PRIMARY KEY)")


@subscriber(BenchHappened.type, name=CATCH_UP, max_attempts=10)
def catch_up(event: BenchHappened, envelope) -> None:
    """A subscriber added later that catches up on the log: one row per event (the backfill scenario)."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_catch_up (event_id) VALUES (%s)", [envelope.event_id])


CATCH_UP_ONE_BY_ONE = "bench.catch_up_one_by_one"


@subscriber(BenchHappened.type, name=CATCH_UP_ONE_BY_ONE, max_attempts=10)
def catch_up_one_by_one(event: BenchHappened, envelope) -> None:
    """The same subscriber without a batch form (the backfill scenario's per-event run)."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_catch_up_one_by_one (event_id) VALUES (%s)", [envelope.event_id])


@subscriber_batch(CATCH_UP)
def catch_up_batch(deliveries: list) -> None:
    """Its batch form: the batch's rows in one statement (``BENCH_NO_BATCH_FORMS=1`` drops it)."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_catch_up (event_id) SELECT unnest(%s::uuid[])",
                       [[envelope.event_id for _, envelope in deliveries]])


hooks.install()  # after the extra subscribers, so that they get the simulated I/O as well


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    redis.Redis.from_url(settings.REDIS_URL).incr("bench:noop")
