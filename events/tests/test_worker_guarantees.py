"""The bus's promises against a real Redis broker and real Celery worker and beat processes:
nothing lost (broker down, lost message, killed worker), nothing twice (duplicates, two workers),
dead letters and replay, and backfill of a subscriber added at run time."""

from __future__ import annotations

import itertools
import time

import pytest
from django.db import transaction
from django.utils import timezone

from events import replaying
from events.models import Attempt, Delivery, DeliveryStatus
from events.publishing import publish
from events.registry import unregister
from events.tasks import deliver
from tests.support import late_subscriber
from tests.support.processes import wait_until
from tests.support.subscribers import Pinged

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _publish(n=1, **kwargs):
    rows = []
    with transaction.atomic():
        for i in range(n):
            rows.append(publish(Pinged(key=f"k{i}", **kwargs), organization_id=1))
    return rows


def _all_done(subscriber=None):
    qs = Delivery.objects.all()
    if subscriber:
        qs = qs.filter(subscriber=subscriber)
    return qs.exists() and not qs.exclude(status=DeliveryStatus.DONE).exists()


def test_deliveries_reach_a_real_worker_and_apply_once(effects, celery_processes):
    celery_processes.worker()
    _publish(5)

    wait_until(_all_done, message="every delivery done")
    assert effects("test.record") == 5 and effects("test.flaky") == 5


def test_broker_down_at_commit_loses_nothing(effects, private_broker, celery_processes):
    private_broker.stop()

    started = time.monotonic()
    events = _publish(3)  # the command commits although the broker is unreachable
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"publishing hung for {elapsed:.1f}s with the broker down"
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 9
    # the unsent fan-out leaves them due now, for the sweeper's first round after the outage
    assert not Delivery.objects.filter(next_attempt_at__gt=timezone.now()).exists()

    private_broker.start()  # same port: the broker is back
    celery_processes.worker(REDIS_URL=private_broker.url)
    celery_processes.beat(REDIS_URL=private_broker.url)
    wait_until(_all_done, timeout=40, message="the sweeper delivering everything after the outage")
    for event in events:
        assert effects("test.record", event.id) == 1 and effects("test.flaky", event.id) == 1


def test_duplicate_messages_and_two_workers_apply_the_effect_once(effects, celery_processes):
    celery_processes.worker(concurrency=2)
    celery_processes.worker(concurrency=2)
    events = _publish(10)
    ids = list(Delivery.objects.values_list("pk", flat=True))
    for _ in range(5):  # every delivery sent five more times, racing across four processes
        for pk in ids:
            deliver.apply_async((pk,), queue="events")

    wait_until(_all_done, message="every delivery done")
    time.sleep(1)  # let the duplicates drain: they must all find the delivery done
    for event in events:
        assert effects("test.record", event.id) == 1 and effects("test.flaky", event.id) == 1
    assert Attempt.objects.filter(outcome="ok").count() == len(ids)


def test_worker_killed_mid_handler_completes_elsewhere_once(effects, redis_client, celery_processes):
    with transaction.atomic():
        event = publish(Pinged(key="kill-me"), organization_id=1)
        redis_client.set(f"test:sleep_once:{event.id}", "2.5")
    victim = celery_processes.worker(concurrency=1)
    wait_until(lambda: redis_client.get(f"test:sleeping:{event.id}"), message="the handler to be mid-way")

    victim.kill()  # SIGKILL, pool children included: the transaction rolls back
    record = Delivery.objects.get(event=event, subscriber="test.record")
    assert record.status == DeliveryStatus.IN_FLIGHT and effects("test.record", event.id) == 0

    celery_processes.worker()
    celery_processes.beat()
    wait_until(lambda: _all_done("test.record"), timeout=40, message="lease expiry and redelivery")
    assert effects("test.record", event.id) == 1
    outcomes = list(Attempt.objects.filter(delivery=record).order_by("number").values_list("outcome", flat=True))
    assert outcomes == ["lost", "ok"]


def test_failing_subscriber_goes_dead_alone_and_replay_finishes_it(effects, redis_client, celery_processes):
    redis_client.set("test:fail:test.flaky", "1")
    celery_processes.worker(OUTBOX_RETRY_BASE_SECONDS="1", OUTBOX_RETRY_CAP_SECONDS="8")
    celery_processes.beat()
    (event,) = _publish()
    flaky = Delivery.objects.get(event=event, subscriber="test.flaky")

    wait_until(lambda: Delivery.objects.filter(pk=flaky.pk, status=DeliveryStatus.DEAD).exists(), timeout=40,
               message="the failing delivery to go dead")
    assert Delivery.objects.get(event=event, subscriber="test.record").status == DeliveryStatus.DONE
    starts = list(Attempt.objects.filter(delivery=flaky).order_by("number").values_list("started_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert len(starts) == 4
    # each retry waits at least half its backoff ceiling (1 s, 2 s, 4 s): delays grow
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0 and gaps[2] >= 2.0 and gaps[2] > gaps[0], gaps

    redis_client.delete("test:fail:test.flaky")
    replaying.replay(Delivery.objects.filter(pk=flaky.pk))
    wait_until(_all_done, message="replayed delivery done")
    assert effects("test.flaky", event.id) == 1


def test_lost_message_is_resent_by_the_sweeper(effects, redis_client, celery_processes):
    events = _publish(2)
    assert redis_client.llen("fanout") == 2  # one fan-out message per event (three subscribers each)
    redis_client.delete("fanout")  # published to the broker, never consumed: lost

    celery_processes.worker()
    celery_processes.beat()
    wait_until(_all_done, timeout=30, message="the sweeper re-sending lost deliveries")
    for event in events:
        assert effects("test.record", event.id) == 1


def test_subscriber_added_later_is_backfilled_from_the_log_once(effects, celery_processes):
    history = _publish(3)
    late_subscriber.register()  # no publisher code changes: a new subscriber appears
    try:
        celery_processes.worker(OUTLAY_EXTRA_SUBSCRIBERS="tests.support.subscribers,tests.support.late_subscriber")
        celery_processes.beat()
        assert replaying.backfill(late_subscriber.NAME) == 3
        assert replaying.backfill(late_subscriber.NAME) == 0  # idempotent
        wait_until(lambda: _all_done(late_subscriber.NAME), message="backfilled deliveries done")
        for event in history:
            assert effects(late_subscriber.NAME, event.id) == 1
        (fresh,) = _publish(1)  # and it now receives new events as well
        wait_until(lambda: effects(late_subscriber.NAME, fresh.id) == 1, message="live delivery to the new subscriber")
    finally:
        unregister(late_subscriber.NAME)


def _sessions_opened() -> int:
    """Connections PostgreSQL has accepted into this database since its statistics began."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_worker_keeps_its_database_connection_and_replaces_a_broken_one(effects, celery_processes):
    from django.db import connection

    # given a worker that keeps connections (as in production; the other tests' workers do not)
    celery_processes.worker(concurrency=1, CONN_MAX_AGE="600")
    _publish(1)
    wait_until(_all_done, message="the first deliveries")

    # when it runs 40 more tasks (10 fan-outs, 30 deliveries)
    before = _sessions_opened()
    events = _publish(10, note="reuse")
    wait_until(_all_done, message="ten more events delivered")

    # then it opened no new connection (Celery's fixup alone would open two per task)
    assert _sessions_opened() - before <= 1

    # and when PostgreSQL drops the worker's connection, the next task opens a new one and delivers
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    later = _publish(2, note="after the drop")
    wait_until(_all_done, message="deliveries after the connection was dropped")
    for event in [*events, *later]:
        assert effects("test.record", event.id) == 1
