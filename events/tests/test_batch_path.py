"""The batch path's pieces in one process, on the real PostgreSQL and Redis (the guarantees with a
real worker are in ``test_batches``): a batch of per-event handlers runs in one savepoint; a
deferred check that fails there, which belongs to no one handler, sends the batch one by one so
that only the guilty delivery fails; live hints go out in one hop for a batch and not at all for
an old event; a drain sizes its next batch from the pace of the last one."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pytest
import time_machine
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from events import sending
from events.hints import aggregate_group
from events.models import Delivery, DeliveryStatus
from events.publishing import publish
from events.registry import subscriber, unregister
from events.running import drain, next_batch_size
from tests.support.batch_forms import drain_and_listen
from tests.support.subscribers import Pinged

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "test.deferred_check"


@pytest.fixture
def deferred_table(transactional_db, redis_client):
    """A subscriber whose handler writes a row with a deferred foreign key to the delivery it
    handles, or, for the event keyed "bad", to a delivery that does not exist (a violation that
    PostgreSQL only finds when the deferred checks run)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_deferred (delivery_id bigint REFERENCES events_delivery (id) "
                       "DEFERRABLE INITIALLY DEFERRED)")

    @subscriber("test.pinged", name=NAME, max_attempts=5)
    def handler(event: Pinged, envelope) -> None:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO test_deferred (delivery_id) VALUES (%s)",
                           [-1 if event.key == "bad" else envelope.delivery_id])

    yield
    unregister(NAME)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE test_deferred")  # before the flush: it refers to events_delivery


def _rows_of(delivery_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM test_deferred WHERE delivery_id = %s", [delivery_id])
        return cursor.fetchone()[0]


def test_a_deferred_check_failing_in_a_batch_fails_only_the_guilty_delivery(deferred_table, settings):
    settings.OUTBOX_DRAIN_SECONDS = 30
    with transaction.atomic():
        for key in ("a", "b", "bad", "c", "d"):
            publish(Pinged(key=key), organization_id=1)
    ours = Delivery.objects.filter(subscriber=NAME)

    ran = drain(NAME, batch=10, seconds=30)

    assert ran == 5
    bad = ours.get(event__payload__key="bad")
    assert bad.status == DeliveryStatus.PENDING and bad.attempts == 1 and "test_deferred" in bad.last_error
    assert _rows_of(-1) == 0
    good = ours.exclude(pk=bad.pk)
    assert set(good.values_list("status", flat=True)) == {DeliveryStatus.DONE}
    assert all(_rows_of(pk) == 1 for pk in good.values_list("pk", flat=True))  # each effect once


@pytest.fixture
def troubled(transactional_db, redis_client):
    """A subscriber that counts its calls per event key and records its effect in test_effects;
    for the key "raise" it raises, for "swallow" it makes a failing statement and catches the
    error (leaving the transaction aborted for whoever runs next)."""
    calls: dict[str, int] = {}

    @subscriber("test.pinged", name="test.troubled", max_attempts=5)
    def handler(event: Pinged, envelope) -> None:
        calls[event.key] = calls.get(event.key, 0) + 1
        with connection.cursor() as cursor:
            if event.key == "swallow":
                with contextlib.suppress(DataError):
                    cursor.execute("SELECT 1 / 0")
                return
            if event.key == "raise":
                raise RuntimeError("told to raise")
            cursor.execute("INSERT INTO test_effects (event_id, subscriber, note) VALUES (%s, 'test.troubled', '')",
                           [envelope.event_id])

    yield calls
    unregister("test.troubled")


def _troubled_backlog(keys: list[str]) -> None:
    with transaction.atomic():
        for key in keys:
            publish(Pinged(key=key), organization_id=1)


def test_a_backlog_of_per_event_handlers_runs_in_one_savepoint(troubled, effects, settings):
    settings.OUTBOX_DRAIN_SECONDS = 30
    _troubled_backlog([f"k{i}" for i in range(10)])

    with CaptureQueriesContext(connection) as statements:
        assert drain("test.troubled", batch=20, seconds=30) == 10

    savepoints = [q["sql"] for q in statements.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1  # one for the batch, none per handler
    assert effects("test.troubled") == 10 and all(n == 1 for n in troubled.values())


def test_a_handler_raising_in_the_shared_savepoint_fails_alone_and_is_not_run_again(troubled, effects, settings):
    settings.OUTBOX_DRAIN_SECONDS = 30
    _troubled_backlog(["a", "b", "raise", "c", "d"])
    ours = Delivery.objects.filter(subscriber="test.troubled")

    drain("test.troubled", batch=20, seconds=30)

    failed = ours.get(event__payload__key="raise")
    assert failed.status == DeliveryStatus.PENDING and failed.attempts == 1 and "told to raise" in failed.last_error
    assert troubled["raise"] == 1  # its failure recorded from the shared savepoint: not run a second time
    assert troubled["a"] == troubled["b"] == 2 and troubled["c"] == troubled["d"] == 1  # rolled back, run again
    assert set(ours.exclude(pk=failed.pk).values_list("status", flat=True)) == {DeliveryStatus.DONE}
    assert effects("test.troubled") == 4  # each of the four landed once


def test_a_handler_that_swallows_a_database_error_is_blamed_not_the_one_after_it(troubled, effects, settings):
    settings.OUTBOX_DRAIN_SECONDS = 30
    _troubled_backlog(["a", "swallow", "b", "c"])
    ours = Delivery.objects.filter(subscriber="test.troubled")

    drain("test.troubled", batch=20, seconds=30)

    guilty = ours.get(event__payload__key="swallow")
    assert guilty.status == DeliveryStatus.PENDING and guilty.attempts == 1
    assert set(ours.exclude(pk=guilty.pk).values_list("status", flat=True)) == {DeliveryStatus.DONE}
    assert effects("test.troubled") == 3


def test_a_batch_hints_open_pages_of_recent_events_and_not_of_old_ones(transactional_db, redis_client, settings,
                                                                       effects):
    settings.OUTBOX_HINT_MAX_AGE_SECONDS = 300
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), tick=True), transaction.atomic():
        old = [publish(Pinged(key=f"old{i}"), organization_id=1) for i in range(2)]
    with transaction.atomic():
        new = [publish(Pinged(key=f"new{i}"), organization_id=1) for i in range(2)]

    groups = [aggregate_group(e.aggregate_type, e.aggregate_id) for e in old + new]
    _, messages = drain_and_listen("test.record", groups, batch=10)

    assert effects("test.record") == 4  # all four delivered
    assert {m["subscriber"] for m in messages} == {"test.record"}
    assert len(messages) == 2  # the two recent events' hints, none for the two-hour-old ones


@pytest.mark.parametrize(("ran", "seconds", "expected"), [
    (500, 0.1, 1000),  # fast handlers: as many as fit in the target, up to the cap
    (100, 0.1, 250),  # 1 ms each: 250 fit in 0.25 s
    (20, 1.0, 50),  # slow ones: never fewer than OUTBOX_BATCH_SIZE
    (0, 0.0, 1000),  # nothing measured: the cap
])
def test_a_drain_sizes_its_next_batch_from_the_last_ones_pace(settings, ran, seconds, expected):
    settings.OUTBOX_BATCH_SIZE, settings.OUTBOX_BATCH_MAX, settings.OUTBOX_BATCH_TARGET_SECONDS = 50, 1000, 0.25
    assert next_batch_size(ran, seconds) == expected


def test_a_drain_grows_its_batches_over_a_backlog_of_quick_handlers(transactional_db, redis_client, settings,
                                                                   effects):
    settings.OUTBOX_BATCH_SIZE, settings.OUTBOX_BATCH_MAX, settings.OUTBOX_BATCH_TARGET_SECONDS = 5, 400, 0.25
    with transaction.atomic():
        events = [publish(Pinged(key=f"k{i}"), organization_id=1) for i in range(300)]

    assert drain("test.record", seconds=60) == 300

    assert effects("test.record") == len(events)
    # the first claim took 5, the next ones far more: fewer claims than 300 / 5
    claims = Delivery.objects.filter(subscriber="test.record").values("leased_at").distinct().count()
    assert claims < 300 / 5 / 2, claims


@pytest.fixture
def yielding(redis_client):
    """A subscriber whose tenth delivery puts a message in its queue, as a live event's deliveries
    would while its backlog is drained; returns the delivery ids it was called with."""
    calls: list[int] = []

    @subscriber("test.pinged", name="test.yielding")
    def handler(event: Pinged, envelope) -> None:
        calls.append(envelope.delivery_id)
        if len(calls) == 10:
            redis_client.lpush("events", "a live message")

    yield calls
    unregister("test.yielding")


def test_a_drain_task_yields_to_a_message_waiting_in_its_queue_and_sends_itself_again(
        transactional_db, redis_client, settings, yielding):
    settings.OUTBOX_DRAIN_SECONDS = 30
    with transaction.atomic():
        for i in range(30):
            publish(Pinged(key=f"k{i}"), organization_id=1)
    redis_client.delete("fanout")  # the fan-out messages of these 30 (no worker here takes them)
    ours = Delivery.objects.filter(subscriber="test.yielding")

    # a message arrives in the queue during the second batch: the drain ends after that batch
    assert drain("test.yielding", batch=5, seconds=30, yield_to_waiting=True) == 10
    assert ours.filter(status=DeliveryStatus.DONE).count() == 10
    assert ours.filter(status=DeliveryStatus.PENDING).count() == 20
    waiting = [json.loads(m) for m in redis_client.lrange("events", 0, -1) if m != b"a live message"]
    assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in waiting] == [
        ("events.drain", "('test.yielding',)")]

    # with nothing waiting, a drain goes on through the backlog in its time
    redis_client.delete("events")
    assert drain("test.yielding", batch=5, seconds=30, yield_to_waiting=True) == 20
    assert len(set(yielding)) == 30 and ours.filter(status=DeliveryStatus.DONE).count() == 30


def test_a_drain_that_yielded_goes_on_at_the_batch_size_it_had_reached(transactional_db, redis_client, settings,
                                                                       yielding):
    settings.OUTBOX_DRAIN_SECONDS = 30
    # at most 50 a batch, so that the second batch cannot take the whole backlog on a fast machine
    settings.OUTBOX_BATCH_SIZE, settings.OUTBOX_BATCH_MAX, settings.OUTBOX_BATCH_TARGET_SECONDS = 5, 50, 0.25
    with transaction.atomic():
        for i in range(200):
            publish(Pinged(key=f"k{i}"), organization_id=1)
    redis_client.delete("fanout")
    ours = Delivery.objects.filter(subscriber="test.yielding")

    first = drain("test.yielding", yield_to_waiting=True)  # a first batch of 5, a larger one, then it yields
    kept = sending.remembered_batch_size("test.yielding")
    assert 10 <= first < 200 and kept is not None and kept > 5
    redis_client.delete("events")
    done_before = set(ours.filter(status=DeliveryStatus.DONE).values_list("pk", flat=True))

    assert drain("test.yielding", yield_to_waiting=True) == 200 - first

    later = ours.exclude(pk__in=done_before)
    first_claim = later.order_by("leased_at").values_list("leased_at", flat=True).first()
    assert later.filter(leased_at=first_claim).count() == min(kept, 200 - first)  # not 5 again


def test_a_batch_takes_back_at_once_the_deliveries_whose_lease_a_dead_worker_let_expire(
        transactional_db, redis_client, settings, effects):
    from datetime import timedelta

    from django.utils import timezone

    from events.models import Attempt, AttemptOutcome
    from events.running import _claim

    with transaction.atomic():
        for i in range(9):
            publish(Pinged(key=f"k{i}"), organization_id=1)
    ours = Delivery.objects.filter(subscriber="test.record")
    # two workers claimed three each and died (SIGKILL: no rollback of the claim, which commits
    # alone); one of the leases has run out, the other is still live
    dead, _, _ = _claim(delivery_id=None, subscriber="test.record", more=3, worker="dead:1")
    live, _, _ = _claim(delivery_id=None, subscriber="test.record", more=3, worker="alive:2")
    expired_ids = [c.delivery_id for c in dead]
    ours.filter(pk__in=expired_ids).update(leased_until=timezone.now() - timedelta(seconds=1))

    assert drain("test.record", batch=20, seconds=30) == 6  # no sweeper message needed

    assert set(ours.filter(pk__in=expired_ids).values_list("status", "attempts")) == {(DeliveryStatus.DONE, 2)}
    assert Attempt.objects.filter(delivery_id__in=expired_ids, outcome=AttemptOutcome.LOST).count() == 3
    live_ids = [c.delivery_id for c in live]
    assert set(ours.filter(pk__in=live_ids).values_list("status", flat=True)) == {DeliveryStatus.IN_FLIGHT}
    assert effects("test.record") == 6  # each once; the live lease's three are left to their worker
