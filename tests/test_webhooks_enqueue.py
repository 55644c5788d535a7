"""The webhooks of a backlog of expense events are created by ``webhooks.enqueue``'s batch form in
one statement, exactly those one event after the other creates (per matching enabled endpoint,
none for events older than the endpoint, an aggregate's earlier events filled in), and never
twice. In process, on the real PostgreSQL and Redis, without workers (sending the webhooks:
``tests/test_webhooks.py``). Here and not in ``webhooks/tests``: the events come from expenses'
commands, which the webhooks app may not import."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from events.models import Delivery, DeliveryStatus
from events.registry import get_subscriber
from events.running import drain, run_delivery
from expenses import services as expense_services
from expenses.tests.factories import make_team
from tests.support.batch_forms import handler_arguments, one_by_one, queued_tasks
from webhooks import services
from webhooks.models import WebhookDelivery
from webhooks.subscribers import NAME, enqueue

pytestmark = pytest.mark.django_db(transaction=True)

_COMPARED = ("endpoint_id", "event_id", "organization_id", "event_type", "aggregate_key", "sequence", "occurred_at",
             "status", "attempts", "last_error", "leased_until", "delivered_at")


def webhook_rows() -> list[tuple]:
    """The table's content but for what is drawn afresh for each row (its webhook-id, its times)."""
    return sorted(WebhookDelivery.objects.values_list(*_COMPARED))


def _endpoint(team, path: str, event_types=(), enabled=True):
    endpoint, _ = services.endpoint_create(organization_id=team.org.pk, created_by_id=None,
                                           url=f"https://hooks.example.com/{path}", event_types=list(event_types),
                                           enabled=enabled)
    return endpoint


def _approved(team, employee=None):
    expense = team.expense(employee=employee, submit=True)
    return expense_services.expense_approve(actor=team.manager, expense_id=expense.pk)


@pytest.fixture
def backlog(redis_client, settings):
    """Two organisations' events waiting for ``webhooks.enqueue``: in one, an endpoint for every
    type, one for approvals only and a disabled one; in the other, one for submissions created
    after its first submission (which it must not get)."""
    settings.OUTBOX_DRAIN_SECONDS = 30
    a, b = make_team(), make_team()
    _endpoint(a, "a-all")
    _endpoint(a, "a-approved", ["expense.approved"])
    _endpoint(a, "a-off", enabled=False)
    b.expense(submit=True)
    _endpoint(b, "b-submitted", ["expense.submitted"])
    for _ in range(5):
        _approved(a)
    a.expense(employee=a.colleague, submit=True)
    _approved(b)
    b.expense(employee=b.colleague, submit=True)
    return a, b


def test_a_backlog_drained_through_the_batch_form_is_one_insert_with_the_rows_one_event_at_a_time_gives(backlog,
                                                                                                         redis_client):
    # given the backlog, and what the per-event handler lands for it, one event after the other
    deliveries = handler_arguments(NAME)
    expected = one_by_one(enqueue, deliveries, webhook_rows)
    assert len(deliveries) == 15 and len(expected) == 18

    # when a worker with a backlog drains it
    with CaptureQueriesContext(connection) as statements:
        assert drain(NAME, batch=50, seconds=30) == len(deliveries)

    # then every delivery is done, the webhooks went in with one statement, and they are the same rows
    assert not Delivery.objects.filter(subscriber=NAME).exclude(status=DeliveryStatus.DONE).exists()
    inserts = [q["sql"] for q in statements if q["sql"].lstrip().startswith("INSERT INTO webhooks_webhookdelivery")]
    assert len(inserts) == 1
    assert len(statements) <= 12  # the bus's claim, lock and mark done, and the one insert: not per event
    assert webhook_rows() == expected
    assert len(set(WebhookDelivery.objects.values_list("webhook_id", flat=True))) == len(expected)
    # and the scheduler was kicked once for the batch, not once per event
    assert [name for name, _ in queued_tasks(redis_client)].count("webhooks.schedule") == 1


def test_a_batch_mixing_handled_and_new_events_adds_only_the_new_and_a_redelivery_adds_nothing(backlog):
    # given a backlog of which a third was handled one by one already, as a worker does without a backlog
    deliveries = handler_arguments(NAME)
    for _, envelope in deliveries[: len(deliveries) // 3]:
        assert run_delivery(envelope.delivery_id) == "done"
    handled = dict(WebhookDelivery.objects.values_list("pk", "webhook_id"))
    assert handled
    expected = one_by_one(enqueue, deliveries, webhook_rows)

    # when the batch form gets them all (as if the handled ones' "done" had been lost)
    batch_form = get_subscriber(NAME).batch_handler
    with transaction.atomic():
        batch_form(deliveries)

    # then it added exactly the rest, and the rows that were there are untouched
    assert webhook_rows() == expected
    assert dict(WebhookDelivery.objects.filter(pk__in=handled).values_list("pk", "webhook_id")) == handled

    # and the same batch once more adds nothing
    before = sorted(WebhookDelivery.objects.values_list("pk", "webhook_id", *_COMPARED))
    with transaction.atomic():
        batch_form(deliveries)
    assert sorted(WebhookDelivery.objects.values_list("pk", "webhook_id", *_COMPARED)) == before


def test_a_batch_of_only_an_aggregates_later_events_fills_in_its_earlier_ones_as_one_event_does(backlog):
    # given the approvals alone (their expenses' earlier events have no webhook yet)
    approvals = [(event, env) for event, env in handler_arguments(NAME) if env.type == "expense.approved"]
    assert len(approvals) == 6
    expected = one_by_one(enqueue, approvals, webhook_rows)
    assert {row[3] for row in expected} > {"expense.approved"}  # the earlier events were filled in

    # when the batch form gets them
    with transaction.atomic():
        get_subscriber(NAME).batch_handler(approvals)

    # then it lands what one event after the other does
    assert webhook_rows() == expected
