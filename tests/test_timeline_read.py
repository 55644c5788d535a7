"""``events.queries.timeline`` (two prepared statements) answers what the ORM's read with its
prefetches answers: the aggregate's events in order, each delivery of each in subscriber order
with its status, attempts, error, latency and attempt log, and nothing of another organisation
or aggregate."""

from __future__ import annotations

import pytest
from django.db.models import Prefetch

from events.models import Delivery, Event
from events.queries import timeline
from expenses import services
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


def _orm_timeline(organization_id, aggregate_id, attempts):
    deliveries = Delivery.objects.order_by("subscriber")
    if attempts:
        deliveries = deliveries.prefetch_related("attempt_log")
    events = (Event.objects.filter(organization_id=organization_id, aggregate_type="expense",
                                   aggregate_id=str(aggregate_id))
              .order_by("sequence").prefetch_related(Prefetch("deliveries", queryset=deliveries)))
    return [(event, [(d.pk, d.subscriber, d.status, d.attempts, d.last_error, d.done_at,
                      (d.done_at - event.occurred_at).total_seconds() * 1000 if d.done_at else None,
                      [a.pk for a in d.attempt_log.all()] if attempts else [])
                     for d in event.deliveries.all()]) for event in events]


def _entries(organization_id, aggregate_id, attempts):
    return [(entry.event, [(d.id, d.subscriber, d.status, d.attempts, d.last_error, d.done_at, d.latency_ms,
                            [a.pk for a in d.attempt_log]) for d in entry.deliveries])
            for entry in timeline(organization_id=organization_id, aggregate_type="expense",
                                  aggregate_id=str(aggregate_id), attempts=attempts)]


def _fields(event):
    return {f.attname: getattr(event, f.attname) for f in Event._meta.concrete_fields}


def test_the_timeline_is_the_orms_read_event_for_event_and_delivery_for_delivery(django_assert_num_queries):
    team = make_team()
    expense = team.expense(amount="20.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries(prefix="accounting.")  # some effects done (with an attempt each), the rest pending
    team.expense(amount="5.00", submit=True)  # another aggregate's events
    stranger = make_team()
    stranger.expense(amount="5.00", submit=True)

    for attempts in (True, False):
        with django_assert_num_queries(3 if attempts else 2):
            ours = _entries(team.org.pk, expense.pk, attempts)
        theirs = _orm_timeline(team.org.pk, expense.pk, attempts)
        assert [(_fields(e), lines) for e, lines in ours] == [(_fields(e), lines) for e, lines in theirs]
    assert len(ours) >= 2 and {status for _, lines in ours for _, _, status, *_ in lines} >= {"done", "pending"}
    assert any(log for _, lines in _entries(team.org.pk, expense.pk, True) for *_, log in lines)
    assert _entries(stranger.org.pk, expense.pk, True) == []
    with django_assert_num_queries(1):
        assert _entries(team.org.pk, "no-such-expense", True) == []
