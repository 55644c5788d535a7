"""publish(): validation, atomicity with the caller's transaction, one delivery per subscriber."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import pytest
from django.db import transaction

from events.errors import InvalidEvent, NotInTransaction, UnknownEventType
from events.models import Delivery, DeliveryStatus, Event
from events.publishing import publish
from events.queries import latest_effects
from events.types import DomainEvent, event_type
from tests.support.subscribers import Pinged

pytestmark = pytest.mark.django_db


def test_publish_writes_event_and_one_delivery_per_subscriber(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        row = publish(Pinged(key="k1", note="hello"), organization_id=7, actor_label="test")

    stored = Event.objects.get(pk=row.id)
    assert stored.type == "test.pinged" and stored.sequence == 1 and stored.organization_id == 7
    assert stored.payload == {"key": "k1", "note": "hello"}
    assert sorted(Delivery.objects.filter(event=stored).values_list("subscriber", flat=True)) == [
        "audit.record", "test.flaky", "test.record"]
    assert len(callbacks) == 1  # one after-commit dispatch for all deliveries


def test_publish_numbers_events_per_aggregate():
    with transaction.atomic():
        first = publish(Pinged(key="a"), organization_id=1)
        second = publish(Pinged(key="a"), organization_id=1)
        other = publish(Pinged(key="b"), organization_id=1)
    assert (first.sequence, second.sequence, other.sequence) == (1, 2, 1)


def test_publish_in_rolled_back_transaction_leaves_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        publish(Pinged(key="gone"), organization_id=1)
        raise RuntimeError("the command failed after publishing")
    assert Event.objects.count() == 0
    assert Delivery.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db(transaction=True)
def test_publish_refuses_to_run_outside_a_transaction(django_capture_on_commit_callbacks):
    # a transactional test runs in autocommit, as a caller that forgot transaction.atomic() would
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(NotInTransaction):
        publish(Pinged(key="x"), organization_id=1)

    assert Event.objects.count() == 0 and Delivery.objects.count() == 0
    assert callbacks == []


def test_invalid_payload_is_refused_with_a_clear_error():
    with pytest.raises(InvalidEvent, match=r"test\.pinged\.key: expected str, got int"):
        Pinged(key=5)


def test_unknown_type_is_refused():
    with pytest.raises(UnknownEventType):
        event_type("nope.never")


def test_decimal_and_datetime_round_trip_exactly(declared_event_types):

    @dataclass(frozen=True, kw_only=True)
    class Money(DomainEvent):
        type: ClassVar[str] = "test.money"
        aggregate_type: ClassVar[str] = "test"
        aggregate_field: ClassVar[str] = "key"
        key: str
        amount: Decimal
        at: dt.datetime

    at = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    event = Money(key="m", amount=Decimal("0.10"), at=at)
    payload = event.to_payload()
    assert payload == {"key": "m", "amount": "0.10", "at": "2026-03-01T12:30:15.123456+02:00"}
    back = Money.from_payload(payload)
    assert back == event and str(back.amount) == "0.10"
    with pytest.raises(InvalidEvent):
        Money(key="m", amount=Decimal("NaN"), at=at)
    with pytest.raises(InvalidEvent):
        Money(key="m", amount=Decimal("1"), at=dt.datetime(2026, 1, 1))  # naive


def test_events_are_immutable_in_the_database():
    from django.db import IntegrityError

    with transaction.atomic():
        row = publish(Pinged(key="imm"), organization_id=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.filter(pk=row.id).update(type="tampered")
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.filter(pk=row.id).delete()


def test_latest_effects_are_the_latest_events_deliveries_of_that_aggregate_and_organisation(effects):
    with transaction.atomic():
        publish(Pinged(key="a"), organization_id=1)
        latest = publish(Pinged(key="a", note="second"), organization_id=1)
        publish(Pinged(key="b"), organization_id=1)  # another aggregate
        publish(Pinged(key="a"), organization_id=2)  # the same key in another organisation
    Delivery.objects.filter(event_id=latest.id, subscriber="test.record").update(status=DeliveryStatus.DONE,
                                                                               done_at=latest.occurred_at)

    assert latest_effects(organization_id=1, aggregate_type="test", aggregate_id="a") == {
        "audit.record": "pending", "test.flaky": "pending", "test.record": "done"}
    assert list(latest_effects(organization_id=1, aggregate_type="test", aggregate_id="a")) == sorted(
        ["audit.record", "test.flaky", "test.record"])
    assert latest_effects(organization_id=3, aggregate_type="test", aggregate_id="a") == {}
