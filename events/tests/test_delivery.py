"""The delivery code path in-process: done once, leases, retries with backoff, dead letters, replay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from events import replaying, sending
from events.models import Attempt, Delivery, DeliveryStatus, Event
from events.publishing import publish
from events.running import run_delivery
from tests.support.batch_forms import queued_tasks
from tests.support.subscribers import Pinged

pytestmark = pytest.mark.django_db


def _publish(key="k", note=""):
    with transaction.atomic():
        return publish(Pinged(key=key, note=note), organization_id=1)


def _delivery(event, subscriber="test.record") -> Delivery:
    return Delivery.objects.get(event_id=event.id, subscriber=subscriber)


def test_run_delivery_applies_the_effect_once_however_often_it_runs(effects):
    event = _publish()
    d = _delivery(event)

    outcomes = [run_delivery(d.pk) for _ in range(3)]

    assert outcomes == ["done", "skipped: already done", "skipped: already done"]
    assert effects("test.record", event.id) == 1
    d.refresh_from_db()
    assert d.status == DeliveryStatus.DONE and d.done_at is not None and d.attempts == 1
    assert list(d.attempt_log.values_list("outcome", flat=True)) == ["ok"]


def test_a_live_lease_turns_a_second_message_away(effects):
    event = _publish()
    d = _delivery(event)
    Delivery.objects.filter(pk=d.pk).update(status=DeliveryStatus.IN_FLIGHT,
                                            leased_until=timezone.now() + timedelta(seconds=30))

    assert run_delivery(d.pk) == "skipped: leased by another worker"
    assert effects("test.record", event.id) == 0


def test_an_expired_lease_is_taken_over_and_the_lost_attempt_recorded(effects):
    event = _publish()
    d = _delivery(event)
    Delivery.objects.filter(pk=d.pk).update(status=DeliveryStatus.IN_FLIGHT, attempts=1,
                                            leased_until=timezone.now() - timedelta(seconds=1))
    Attempt.objects.create(delivery=d, number=1, started_at=timezone.now() - timedelta(seconds=10))

    assert run_delivery(d.pk) == "done"
    assert list(d.attempt_log.order_by("number").values_list("outcome", flat=True)) == ["lost", "ok"]
    assert effects("test.record", event.id) == 1


def test_a_failure_is_recorded_and_retried_later_with_growing_delays(effects, redis_client, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 10
    settings.OUTBOX_RETRY_CAP_SECONDS = 1000
    redis_client.set("test:fail:test.flaky", "1")
    event = _publish()
    d = _delivery(event, "test.flaky")
    windows = []
    for attempt in range(1, 4):
        before = timezone.now()
        assert run_delivery(d.pk) == "failed"
        d.refresh_from_db()
        delay = (d.next_attempt_at - before).total_seconds()
        windows.append(delay)
        ceiling = 10 * 2 ** (attempt - 1)
        assert ceiling / 2 - 0.5 <= delay <= ceiling + 0.5, (attempt, delay)
        assert d.status == DeliveryStatus.PENDING and "flaky is told to fail" in d.last_error
    assert windows[0] < windows[1] < windows[2]
    assert list(d.attempt_log.values_list("outcome", flat=True)) == ["error"] * 3
    assert "RuntimeError" in d.attempt_log.first().traceback


def test_past_max_attempts_the_delivery_is_dead_and_announced(effects, redis_client):
    redis_client.set("test:fail:test.flaky", "1")
    event = _publish()
    d = _delivery(event, "test.flaky")
    outcomes = [run_delivery(d.pk) for _ in range(4)]  # test.flaky has max_attempts=4

    assert outcomes == ["failed", "failed", "failed", "dead"]
    d.refresh_from_db()
    assert d.status == DeliveryStatus.DEAD
    dead = Event.objects.get(type="delivery.dead")
    assert dead.payload["delivery_id"] == d.pk and dead.payload["subscriber"] == "test.flaky"
    assert dead.causation_id == event.id and dead.correlation_id == event.correlation_id
    # the other subscriber of the same event is unaffected
    assert run_delivery(_delivery(event).pk) == "done"


def test_replay_makes_a_dead_delivery_done_after_the_fault_is_fixed(effects, redis_client):
    redis_client.set("test:fail:test.flaky", "1")
    event = _publish()
    d = _delivery(event, "test.flaky")
    for _ in range(4):
        run_delivery(d.pk)
    redis_client.delete("test:fail:test.flaky")

    redis_client.delete("events", "fanout")
    assert replaying.replay(Delivery.objects.filter(pk=d.pk)) == 1
    assert redis_client.llen("events") == 1  # sent to the broker's `events` queue after commit
    d.refresh_from_db()
    assert d.status == DeliveryStatus.PENDING and d.attempts == 0
    assert run_delivery(d.pk) == "done"
    assert effects("test.flaky", event.id) == 1
    assert replaying.replay(Delivery.objects.filter(pk=d.pk)) == 0  # done deliveries are never replayed


def test_sweeper_does_not_resend_what_still_waits_in_the_queue_but_resends_what_the_broker_lost(
        effects, redis_client):
    # given a backlog: three deliveries sent long ago, never claimed, their messages still queued
    event = _publish("backlog")
    redis_client.delete("events", "fanout")  # this test sends the delivery messages itself
    rows = Delivery.objects.filter(event_id=event.id).values_list("id", "subscriber")
    assert sending.dispatch_rollback_unsafe(rows) == 3
    long_ago = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(event_id=event.id).update(next_attempt_at=long_ago)

    # when the sweeper runs, it sends nothing more (the queue holds a message for each)...
    assert sending.sweep() == 0
    assert redis_client.llen("events") == 3
    # ...and looks at them again one lease later
    assert all(d.next_attempt_at > timezone.now() for d in Delivery.objects.filter(event_id=event.id))

    # when the broker loses the messages (a restart without persistence), the next look resends them
    redis_client.delete("events", "fanout")
    Delivery.objects.filter(event_id=event.id).update(next_attempt_at=long_ago)
    assert sending.sweep() == 3 and redis_client.llen("events") == 3
    for d in Delivery.objects.filter(event_id=event.id):
        run_delivery(d.pk)
    assert effects("test.record", event.id) == 1


def test_a_committed_event_sends_one_fan_out_message_which_sends_one_task_per_subscriber(
        effects, redis_client, django_capture_on_commit_callbacks):
    from events import tasks

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = publish(Pinged(key="fan"), organization_id=1)

    deliveries = sorted(Delivery.objects.filter(event_id=event.id).values_list("id", "subscriber"))
    assert redis_client.llen("events") == 0
    ((name, args),) = queued_tasks(redis_client, "fanout")  # the request sent one message, not three
    assert name == "events.fan_out" and sorted(map(tuple, args[0])) == deliveries

    assert tasks.fan_out(args[0]) == 3  # what the worker does with it
    assert sorted(args for _, args in queued_tasks(redis_client, "events")) == sorted([pk] for pk, _ in deliveries)
    assert {name for name, _ in queued_tasks(redis_client, "events")} == {"events.deliver"}
    redis_client.delete("events", "fanout")


def test_the_sweeper_counts_a_waiting_fan_out_message_as_its_deliveries(effects, redis_client,
                                                                          django_capture_on_commit_callbacks):
    # given an event whose one fan-out message still waits behind a backlog, past its lease
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = publish(Pinged(key="fan-wait"), organization_id=1)
    assert redis_client.llen("fanout") == 1
    Delivery.objects.filter(event_id=event.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    # then the sweeper leaves its three deliveries to it
    assert sending.sweep() == 0 and redis_client.llen("fanout") == 1 and redis_client.llen("events") == 0

    # and once the broker has lost it, the next look sends all three
    redis_client.delete("fanout")
    Delivery.objects.filter(event_id=event.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert sending.sweep() == 3 and redis_client.llen("events") == 3
    redis_client.delete("events", "fanout")


def test_a_failed_delivery_due_for_retry_is_always_sent(effects, redis_client):
    event = _publish("retry")
    d = _delivery(event)
    Delivery.objects.filter(pk=d.pk).update(attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1))
    redis_client.delete("events", "fanout")
    for _ in range(5):  # a queue full of other messages does not hold a retry back
        redis_client.lpush("events", b"{}")
    assert sending.sweep() >= 1
    assert redis_client.llen("events") > 5
    redis_client.delete("events", "fanout")


def test_only_one_sweep_runs_at_a_time(redis_client):
    from django.core.cache import cache

    from events import tasks

    event = _publish("locked")
    Delivery.objects.filter(event_id=event.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    redis_client.delete("events", "fanout")
    cache.set(tasks.SWEEP_LOCK, "1", 30)  # another sweep is running
    try:
        assert tasks.sweep() == 0 and redis_client.llen("events") == 0
    finally:
        cache.delete(tasks.SWEEP_LOCK)
    assert tasks.sweep() == 3
    assert cache.get(tasks.SWEEP_LOCK) is None  # released
    redis_client.delete("events", "fanout")


def test_sweeper_sends_due_and_expired_but_not_fresh_deliveries(effects, redis_client):
    fresh, due, expired = _publish("fresh"), _publish("due"), _publish("expired")
    Delivery.objects.filter(event_id=due.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Delivery.objects.filter(event_id=expired.id).update(status=DeliveryStatus.IN_FLIGHT,
                                                        leased_until=timezone.now() - timedelta(seconds=1))
    redis_client.delete("events", "fanout")
    sent = sending.sweep()
    assert sent == 6 and redis_client.llen("events") == 6  # three subscribers each for `due` and `expired`
    assert set(Delivery.objects.filter(event_id__in=[due.id, expired.id]).values_list("status", flat=True)) == {
        "pending"}
    assert all(d.next_attempt_at > timezone.now() for d in Delivery.objects.filter(event_id=due.id))
    assert sending.sweep() == 0  # pushed forward by one lease: not sent again on the next round
    assert Delivery.objects.filter(event_id=fresh.id, next_attempt_at__gt=timezone.now()).count() == 3


def test_a_backlog_is_run_in_one_batch_of_one_subscriber(effects):
    events = [_publish(f"b{i}") for i in range(3)]
    first = _delivery(events[0])

    assert run_delivery(first.pk, batch=10) == "done"

    batch = Delivery.objects.filter(subscriber="test.record")
    assert set(batch.values_list("status", flat=True)) == {DeliveryStatus.DONE}
    assert len(set(Attempt.objects.filter(delivery__in=batch).values_list("started_at", flat=True))) == 1
    assert all(effects("test.record", e.id) == 1 for e in events)
    # other subscribers' deliveries were not taken
    assert not Delivery.objects.exclude(subscriber="test.record").exclude(status=DeliveryStatus.PENDING).exists()


def test_a_batch_out_of_time_releases_the_handlers_it_did_not_start(effects, settings):
    settings.OUTBOX_DRAIN_SECONDS = 0  # no time: only the first handler of the batch starts
    events = [_publish(f"t{i}") for i in range(3)]
    first, rest = _delivery(events[0]), [_delivery(e) for e in events[1:]]

    assert run_delivery(first.pk, batch=3) == "done"

    for d in rest:
        d.refresh_from_db()
        assert (d.status, d.attempts, d.lease_token, d.attempt_log.count()) == (DeliveryStatus.PENDING, 0, None, 0)
        assert effects("test.record", d.event_id) == 0
    assert [run_delivery(d.pk) for d in rest] == ["done", "done"]
