"""Pruning done deliveries (issue 21): only done ones past the retention go, with their attempts,
in bounded chunks; the events stay; a message for a pruned delivery does nothing; and a backfill
never delivers again what was delivered and pruned, while still filling what never was."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from events import replaying, retention
from events.models import Attempt, Delivery, DeliveryStatus, Event, PrunedDeliveries
from events.publishing import publish
from events.registry import unregister
from events.running import run_delivery
from tests.support import late_subscriber
from tests.support.deliveries import run_deliveries
from tests.support.subscribers import Pinged

pytestmark = pytest.mark.django_db


def _age(deliveries, days: int) -> None:
    """Move deliveries (and their attempts) ``days`` into the past: created, done and finished."""
    ids = list(deliveries.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE events_delivery SET created_at = created_at - make_interval(days => %s), "
                       "done_at = done_at - make_interval(days => %s) WHERE id = ANY(%s)", [days, days, ids])
        cursor.execute("UPDATE events_attempt SET started_at = started_at - make_interval(days => %s), "
                       "finished_at = finished_at - make_interval(days => %s) WHERE delivery_id = ANY(%s)",
                       [days, days, ids])


def _in_log_order(event_ids) -> list:
    return list(Event.objects.filter(id__in=event_ids).order_by("occurred_at", "id").values_list("id", flat=True))


def test_prune_deletes_only_done_deliveries_past_retention_in_bounded_chunks(effects, settings):
    # given six pings, each with a delivery to test.record and audit.record (done) and test.flaky
    # (still pending); the first four are 40 days old, one of their audit deliveries is dead
    settings.OUTBOX_DELIVERY_RETENTION_DAYS = 30
    with transaction.atomic():
        events = [publish(Pinged(key=f"p{i}"), organization_id=1) for i in range(6)]
    run_deliveries(subscriber="test.record")
    run_deliveries(subscriber="audit.record")
    Delivery.objects.filter(subscriber="audit.record", event=events[0]).update(status=DeliveryStatus.DEAD)
    old = [e.id for e in events[:4]]
    _age(Delivery.objects.filter(event_id__in=old), days=40)
    doomed = set(Delivery.objects.filter(event_id__in=old, status=DeliveryStatus.DONE).values_list("pk", flat=True))
    kept = set(Delivery.objects.exclude(pk__in=doomed).values_list("pk", flat=True))
    assert len(doomed) == 7 and len(kept) == 11

    # when the deliveries are pruned four rows at a time
    result = retention.prune_deliveries(batch=4, pause=0)

    # then exactly the old done ones went, with their attempts, over several chunks (the walk stopped at
    # the first chunk made only of rows newer than the cutoff), and the events stay
    assert result.deleted == 7 and result.chunks == 4
    assert set(Delivery.objects.values_list("pk", flat=True)) == kept
    assert not Attempt.objects.filter(delivery_id__in=doomed).exists()
    assert Event.objects.count() == 6
    # what is kept of them: per subscriber and type, how many, and the span of the log they covered
    spans = {p.subscriber: p for p in PrunedDeliveries.objects.all()}
    assert set(spans) == {"test.record", "audit.record"}
    record_span, audit_span = _in_log_order(old), _in_log_order(old[1:])
    assert (spans["test.record"].deliveries, spans["test.record"].first_event_id,
            spans["test.record"].last_event_id) == (4, record_span[0], record_span[-1])
    assert (spans["audit.record"].deliveries, spans["audit.record"].first_event_id,
            spans["audit.record"].last_event_id) == (3, audit_span[0], audit_span[-1])
    # a message for a pruned delivery (a duplicate, very late) does nothing
    assert run_delivery(min(doomed)) == "skipped: unknown delivery"
    assert effects("test.record") == 6

    # and a second prune finds nothing more
    assert retention.prune_deliveries(batch=4, pause=0).deleted == 0


def test_a_backfill_after_a_prune_skips_what_was_delivered_and_fills_what_never_was(effects):
    history = _in_log_order(late_subscriber.past_pings(10))
    late_subscriber.register()
    try:
        # given a subscriber backfilled from the sixth past event on, delivered, and its deliveries pruned
        since = Event.objects.get(id=history[5]).occurred_at
        assert replaying.backfill(late_subscriber.NAME, since=since) == 5
        run_deliveries(subscriber=late_subscriber.NAME)
        assert retention.prune_deliveries(0, pause=0).deleted == 5
        assert not Delivery.objects.filter(subscriber=late_subscriber.NAME).exists()

        # when it is backfilled from the start of the log
        created = replaying.backfill(late_subscriber.NAME)

        # then only the five events before the pruned span got a delivery, and once run, every past
        # event has had its effect exactly once
        assert created == 5
        assert set(Delivery.objects.filter(subscriber=late_subscriber.NAME).values_list("event_id", flat=True)) == set(
            history[:5])
        run_deliveries(subscriber=late_subscriber.NAME)
        assert all(effects(late_subscriber.NAME, event_id) == 1 for event_id in history)
        # and a backfill once more, after pruning those too: nothing
        assert retention.prune_deliveries(0, pause=0).deleted == 5
        assert replaying.backfill(late_subscriber.NAME) == 0
        assert PrunedDeliveries.objects.get(subscriber=late_subscriber.NAME).deliveries == 10
    finally:
        unregister(late_subscriber.NAME)


def test_the_prune_command_keeps_done_deliveries_younger_than_the_retention(effects, settings):
    settings.OUTBOX_PRUNE_PAUSE_SECONDS = 0
    with transaction.atomic():
        event = publish(Pinged(key="young"), organization_id=1)
    run_deliveries(subscriber="test.record")
    _age(Delivery.objects.filter(event=event), days=29)

    assert "pruned 0 done deliveries" in _prune("--days", "30")
    assert Delivery.objects.filter(event=event, subscriber="test.record", status=DeliveryStatus.DONE).exists()
    assert not PrunedDeliveries.objects.exists()
    assert "pruned 1 done deliveries" in _prune("--days", "28")  # the negative above could fail
    assert not Delivery.objects.filter(event=event, subscriber="test.record").exists()


def _prune(*args: str) -> str:
    out = StringIO()
    call_command("events", "prune", *args, "--no-progress", stdout=out)
    return out.getvalue()
