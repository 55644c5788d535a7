"""Batches and backfills against a real Redis broker and real Celery workers (issue 21): one claim
takes a backlog, one failing handler fails alone (also when its subscriber takes the batch in one
call), a worker killed mid-batch loses nothing and doubles nothing, a backfill killed mid-way
resumes without duplicates and delivers nothing twice after a prune, so does a mass replay, and
live deliveries are not starved while a large backfill runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection, transaction

from events import replaying, retention
from events.models import Attempt, BackfillRun, Delivery, DeliveryStatus, ReplayRun
from events.publishing import publish
from events.registry import unregister
from events.sending import broker_queue_length
from tests.support import late_subscriber
from tests.support.processes import ROOT, process_env, wait_until
from tests.support.subscribers import Pinged, Tallied, Waited

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LATE_TOO = {"OUTLAY_EXTRA_SUBSCRIBERS": "tests.support.subscribers,tests.support.late_subscriber"}
# One batch of up to 20, and time for all of it even on a loaded machine (a batch stops starting
# handlers after OUTBOX_DRAIN_SECONDS and leaves the rest to the next claim).
ONE_BATCH = {"OUTBOX_BATCH_SIZE": "20", "OUTBOX_DRAIN_SECONDS": "30"}
SLOW_START = 120  # seconds a worker may take to start on a shared, loaded machine


def _publish(n: int) -> list:
    with transaction.atomic():
        return [publish(Pinged(key=f"k{i}"), organization_id=1) for i in range(n)]


def _tallies(n: int) -> list:
    with transaction.atomic():
        return [publish(Tallied(key=f"t{i}"), organization_id=1) for i in range(n)]


def _all_done(subscriber: str) -> bool:
    qs = Delivery.objects.filter(subscriber=subscriber)
    return qs.exists() and not qs.exclude(status=DeliveryStatus.DONE).exists()


def _notes(subscriber: str) -> dict:
    """Each event's effects of ``subscriber``: event id -> the notes of its rows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id, array_agg(note ORDER BY id) FROM test_effects WHERE subscriber = %s "
                       "GROUP BY event_id", [subscriber])
        return dict(cursor.fetchall())


def _outcomes(delivery) -> list[str]:
    return list(delivery.attempt_log.order_by("number").values_list("outcome", flat=True))


def _kill_mid_way(command: list[str], under_way, message: str, **env: str) -> None:
    """Run ``manage.py events <command>`` until ``under_way()``, then SIGKILL it."""
    proc = subprocess.Popen([sys.executable, "manage.py", "events", *command], cwd=ROOT, env=process_env(**env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_until(under_way, timeout=30, message=message)
    finally:
        proc.kill()
        proc.wait(10)


def _late_effects_per_event() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id, count(*) FROM test_effects WHERE subscriber = %s GROUP BY event_id",
                       [late_subscriber.NAME])
        return dict(cursor.fetchall())


def test_a_backlog_is_claimed_in_one_batch_and_a_failing_handler_retries_alone(effects, redis_client,
                                                                              celery_processes):
    # given a backlog of ten deliveries of test.record, one of whose handlers fails once, and ten of
    # test.tally (a subscriber with a batch form), one of whose events is bad once
    events = _publish(10)
    redis_client.set(f"test:fail_once:{events[4].id}", "1")
    tallies = _tallies(10)
    redis_client.set(f"test:fail_once:{tallies[6].id}", "1")

    worker = celery_processes.worker(concurrency=1, ready_timeout=SLOW_START, **ONE_BATCH)
    wait_until(lambda: Delivery.objects.filter(subscriber="test.record", status=DeliveryStatus.DONE).count() >= 9
               and Delivery.objects.filter(subscriber="test.tally", status=DeliveryStatus.DONE).count() >= 9,
               timeout=40, message="the batches")
    celery_processes.beat()  # only now: a sweep locks the rows it re-sends, and a claim skips locked rows
    wait_until(lambda: _all_done("test.record") and _all_done("test.tally"), timeout=40,
               message="every test.record and test.tally delivery done")

    record = Delivery.objects.filter(subscriber="test.record")
    failing = record.get(event_id=events[4].id)
    # then one claim took all ten (their first attempts share its time)...
    first_attempts = Attempt.objects.filter(delivery__in=record, number=1)
    assert first_attempts.count() == 10 and len({a.started_at for a in first_attempts}) == 1
    # ...the nine others were done by that batch, and the failing one alone was tried again
    assert _outcomes(failing) == ["error", "ok"]
    assert all(_outcomes(d) == ["ok"] for d in record.exclude(pk=failing.pk))
    assert all(effects("test.record", e.id) == 1 for e in events)

    # and test.tally's batch form took its ten in one call, which wrote them all and then raised on
    # the bad one: that call's rows were rolled back, the ten ran one by one in the same batch, the
    # nine good ones were done, and the bad one alone was tried again
    tally = Delivery.objects.filter(subscriber="test.tally")
    bad = tally.get(event_id=tallies[6].id)
    assert "the batch form of test.tally failed on 10 deliveries" in worker.output()
    assert _outcomes(bad) == ["error", "ok"]
    assert all(_outcomes(d) == ["ok"] for d in tally.exclude(pk=bad.pk))
    assert _notes("test.tally") == {e.id: ["one"] for e in tallies}


def test_a_batch_form_killed_mid_batch_runs_again_and_each_effect_lands_once(effects, redis_client,
                                                                           celery_processes):
    # given a backlog of six test.tally deliveries, whose batch form writes their rows, then sleeps
    tallies = _tallies(6)
    redis_client.set("test:tally_sleep_once", "2.5")
    victim = celery_processes.worker(concurrency=1, ready_timeout=SLOW_START, **ONE_BATCH)
    wait_until(lambda: redis_client.get("test:tally_sleeping"), message="the batch form to be mid-way")

    # when the worker is SIGKILLed before the batch commits
    victim.kill()
    tally = Delivery.objects.filter(subscriber="test.tally")
    assert set(tally.values_list("status", flat=True)) == {DeliveryStatus.IN_FLIGHT}
    assert effects("test.tally") == 0  # the six rows it wrote rolled back with it

    # then another worker runs the six again, and each effect lands once
    celery_processes.worker(ready_timeout=SLOW_START)
    celery_processes.beat()
    wait_until(lambda: _all_done("test.tally"), timeout=40, message="the killed batch to run again")
    assert all(effects("test.tally", e.id) == 1 for e in tallies)
    assert all(_outcomes(d) == ["lost", "ok"] for d in tally)


def test_a_worker_killed_mid_batch_runs_the_whole_batch_again_and_each_effect_lands_once(effects, redis_client,
                                                                                       celery_processes):
    events = _publish(6)
    redis_client.set(f"test:sleep_once:{events[3].id}", "2.5")  # the fourth handler of the batch sleeps
    victim = celery_processes.worker(concurrency=1, ready_timeout=SLOW_START, **ONE_BATCH)
    wait_until(lambda: redis_client.get(f"test:sleeping:{events[3].id}"), message="the batch to be mid-way")

    victim.kill()  # SIGKILL: the batch's transaction (three handlers done, one running) rolls back
    record = Delivery.objects.filter(subscriber="test.record")
    assert set(record.values_list("status", flat=True)) == {DeliveryStatus.IN_FLIGHT}
    assert effects("test.record") == 0

    celery_processes.worker(ready_timeout=SLOW_START)
    celery_processes.beat()
    wait_until(lambda: _all_done("test.record"), timeout=40, message="the killed batch to run again")
    assert all(effects("test.record", e.id) == 1 for e in events)
    assert all(_outcomes(d) == ["lost", "ok"] for d in record)


def test_a_backfill_killed_mid_way_resumes_and_delivers_each_past_event_once(effects, celery_processes):
    history = late_subscriber.past_pings(200)
    late_subscriber.register()
    try:
        # given a backfill that is throttled (40 waiting at most) while no worker runs them
        _kill_mid_way(["backfill", late_subscriber.NAME, "--batch", "20", "--max-waiting", "40", "--no-progress"],
                      lambda: BackfillRun.objects.filter(created__gte=40).exists(),
                      "the backfill to create its first chunks", **LATE_TOO)
        (run,) = BackfillRun.objects.all()
        assert run.finished_at is None
        assert run.created == Delivery.objects.filter(subscriber=late_subscriber.NAME).count()
        assert 40 <= run.created < 200

        # when workers run and the backfill is started again
        celery_processes.worker(ready_timeout=SLOW_START, **LATE_TOO)
        celery_processes.beat(**LATE_TOO)
        assert replaying.backfill(late_subscriber.NAME, batch=20, max_waiting=40) == 200

        # then it went on from where it stopped, and each past event was delivered exactly once
        (resumed,) = BackfillRun.objects.all()
        assert resumed.pk == run.pk and resumed.finished_at is not None and resumed.events_done == 200
        wait_until(lambda: _all_done(late_subscriber.NAME), timeout=40, message="every backfilled delivery done")
        assert Delivery.objects.filter(subscriber=late_subscriber.NAME).count() == 200
        assert _late_effects_per_event() == dict.fromkeys(history, 1)
        assert replaying.backfill(late_subscriber.NAME) == 0  # and once more: nothing to do

        # and after the done deliveries are pruned, a backfill from scratch still delivers nothing twice
        assert retention.prune_deliveries(0, batch=64, pause=0).deleted >= 200
        assert not Delivery.objects.filter(subscriber=late_subscriber.NAME).exists()
        assert replaying.backfill(late_subscriber.NAME, batch=20) == 0
        last = BackfillRun.objects.filter(subscriber=late_subscriber.NAME).latest("id")  # a new run, to the end
        assert (last.events_done, last.created, last.finished_at is not None) == (200, 0, True)
        assert not Delivery.objects.filter(subscriber=late_subscriber.NAME).exists()
        assert _late_effects_per_event() == dict.fromkeys(history, 1)
    finally:
        unregister(late_subscriber.NAME)


def test_a_mass_replay_killed_mid_way_resumes_and_runs_each_dead_letter_once(effects, celery_processes):
    # given 200 dead letters of one subscriber (their effect never landed)
    events = _publish(200)
    Delivery.objects.filter(subscriber="test.record").update(status=DeliveryStatus.DEAD, attempts=5)
    replay = [sys.executable, "manage.py", "events", "replay", "--subscriber", "test.record", "--batch", "20",
              "--max-waiting", "40", "--no-progress"]
    # and a replay of them, throttled (40 waiting at most) while no worker runs them, killed mid-way
    _kill_mid_way(replay[3:], lambda: ReplayRun.objects.filter(done__gte=40).exists(),
                  "the replay to reset its first chunks")
    (run,) = ReplayRun.objects.all()
    assert run.finished_at is None and 40 <= run.done < 200
    assert run.done == Delivery.objects.filter(subscriber="test.record", status=DeliveryStatus.PENDING).count()

    # when workers run and the same replay is started again
    celery_processes.worker(ready_timeout=SLOW_START)
    celery_processes.beat()
    resumed = subprocess.run(replay, cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "replayed 200 deliveries" in resumed.stdout

    # then it went on from its cursor in the same run, and each effect landed exactly once
    (again,) = ReplayRun.objects.all()
    assert again.pk == run.pk and again.finished_at is not None and again.done == 200
    wait_until(lambda: _all_done("test.record"), timeout=60, message="every replayed delivery done")
    assert all(effects("test.record", e.id) == 1 for e in events)


def test_a_waiting_subscribers_backlog_is_worked_off_by_its_drains_at_once(effects, celery_processes, settings):
    # given 80 deliveries of a subscriber that waits 50 ms on a remote system (drains=4), dead, and
    # a worker of threads that has consumed their fan-out messages (their claims find them dead)
    settings.OUTBOX_BATCH_SIZE = 10
    with transaction.atomic():
        events = [publish(Waited(key=f"w{i}"), organization_id=1) for i in range(80)]
    waiting = Delivery.objects.filter(subscriber="test.waits")
    waiting.update(status=DeliveryStatus.DEAD, attempts=5)
    celery_processes.worker(pool="threads", concurrency=4, ready_timeout=SLOW_START, OUTBOX_BATCH_SIZE="10")
    wait_until(lambda: all(broker_queue_length(q) == 0 for q in ("fanout", "events")), timeout=30,
               message="the fan-out and its messages consumed")

    # when they are replayed: a backlog, worked off by drains only (no message per delivery)
    assert replaying.replay(waiting) == 80
    wait_until(lambda: _all_done("test.waits"), timeout=60, message="the replayed backlog done")

    # then several batches ran at the same time (one drain would run them one after another)
    # and each effect landed once
    spans = list(Attempt.objects.filter(delivery__subscriber="test.waits", outcome="ok")
                 .values_list("started_at", "finished_at"))
    assert len(spans) == 80
    batches = sorted(set(spans))  # a batch's attempts share its claim and its "done"
    assert len(batches) >= 4
    ended, overlapping = batches[0][1], 0
    for started, finished in batches[1:]:
        overlapping += started < ended
        ended = max(ended, finished)
    assert overlapping >= 2, f"the batches ran one after another: {batches}"
    assert all(effects("test.waits", e.id) == 1 for e in events)


def test_live_effects_land_within_seconds_while_a_large_backfill_runs(effects, redis_client, celery_processes):
    late_subscriber.past_pings(2000)
    redis_client.set("test:late_sleep_ms", "3")  # the backfilled handler takes a while: 2000 x 3 ms at least
    late_subscriber.register()
    backfill = None
    try:
        celery_processes.worker(concurrency=2, ready_timeout=SLOW_START, **LATE_TOO)
        celery_processes.beat(**LATE_TOO)
        backfill = subprocess.Popen(
            [sys.executable, "manage.py", "events", "backfill", late_subscriber.NAME, "--batch", "500",
             "--no-progress"], cwd=ROOT, env=process_env(**LATE_TOO), stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        wait_until(lambda: Delivery.objects.filter(subscriber=late_subscriber.NAME, status=DeliveryStatus.DONE)
                   .count() >= 100, timeout=120, message="the backfill to be under way")

        # when a live event is published in the middle of it
        (live,) = _publish(1)

        # then its effect lands within seconds (a generous bound for a loaded machine: a starved live
        # delivery would wait behind the whole backlog), while the backfill is still being worked off
        wait_until(lambda: effects("test.record", live.id) == 1, timeout=30, message="the live effect")
        assert Delivery.objects.filter(subscriber=late_subscriber.NAME).exclude(status=DeliveryStatus.DONE).exists()
    finally:
        if backfill is not None:
            backfill.kill()
            backfill.wait(10)
        unregister(late_subscriber.NAME)
