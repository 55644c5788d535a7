"""OpenTelemetry: one approval is one trace from the HTTP request through publish, the fan-out
and each of its deliveries; a replayed delivery, sent from another trace, links back to the
trace that published its event (the context rides in the event's envelope)."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import Client
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from rest_framework.authtoken.models import Token

from events.models import Delivery, DeliveryStatus, Event
from events.publishing import publish
from events.registry import subscribers_for
from events.replaying import deliveries_matching, replay
from expenses.events import ExpenseApproved
from expenses.tests.factories import make_team
from tests.support.processes import wait_until
from tests.support.subscribers import Pinged

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _settled(event_id) -> bool:
    qs = Delivery.objects.filter(event_id=event_id)
    return qs.exists() and not qs.exclude(status=DeliveryStatus.DONE).exists()


def test_one_approval_is_one_trace_from_the_request_to_the_last_delivery(spans, thread_worker):
    team = make_team()
    expense = team.expense(submit=True)
    # The quiet path: nothing else waits, so each delivery runs from its own message (a worker
    # that finds a backlog runs a subscriber's waiting deliveries together, each span then under
    # the task that claimed it, still linked to its own event's trace).
    wait_until(lambda: not Delivery.objects.exclude(status=DeliveryStatus.DONE).exists(), timeout=60,
               message="the submission's deliveries done")
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=team.manager.user).key}")

    response = client.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, content_type="application/json")

    assert response.status_code == 200, response.content
    event = Event.objects.get(type=ExpenseApproved.type, aggregate_id=str(expense.pk))
    wait_until(lambda: _settled(event.id), message="every delivery of the approval done")
    request = next(s for s in spans.get_finished_spans()
                   if s.kind == SpanKind.SERVER and "approve" in s.name and s.attributes.get("http.method") == "POST")
    trace_id = request.context.trace_id
    expected = sorted(sub.name for sub in subscribers_for(ExpenseApproved.type))  # five, and webhooks
    def delivered_in_trace() -> list[str]:
        return sorted(s.name.removeprefix("deliver ") for s in spans.get_finished_spans()
                      if s.context.trace_id == trace_id and s.name.startswith("deliver "))

    wait_until(lambda: len(delivered_in_trace()) >= len(expected), timeout=60,
               message=f"a span per delivery: {expected}")
    assert delivered_in_trace() == expected
    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    names = [s.name for s in in_trace]
    assert names.count(f"publish {ExpenseApproved.type}") == 1
    assert any(name.endswith("events.fan_out") and "run" in name for name in names)  # the worker's fan-out task
    delivered = sorted(name.removeprefix("deliver ") for name in names if name.startswith("deliver "))
    assert delivered == expected
    assert {"accounting.post_approved_expense", "accounting.queue_reimbursement", "audit.record",
            "expenses.monthly_spend", "notifications.expense_approved"} <= set(delivered)
    assert any(s.attributes.get("db.system") == "postgresql" for s in in_trace)  # handlers' SQL is in it
    # The envelope keeps the trace context current when the event was published (the request's).
    assert event.origin["trace"].split("-")[1] == f"{trace_id:032x}"


def test_a_replayed_delivery_links_back_to_the_trace_that_published_its_event(spans, thread_worker, effects):
    redis.Redis.from_url(settings.REDIS_URL).set("test:fail:test.flaky", "1")
    with trace.get_tracer("test").start_as_current_span("original request") as original, transaction.atomic():
        event = publish(Pinged(key="traced"), organization_id=1)
    flaky = Delivery.objects.get(event_id=event.id, subscriber="test.flaky")
    wait_until(lambda: Delivery.objects.get(pk=flaky.pk).attempts == 1
               and Delivery.objects.get(pk=flaky.pk).status == DeliveryStatus.PENDING, message="a failed attempt")
    redis.Redis.from_url(settings.REDIS_URL).delete("test:fail:test.flaky")

    assert replay(deliveries_matching(ids=[flaky.pk])) == 1  # from no trace at all: a new one

    wait_until(lambda: Delivery.objects.get(pk=flaky.pk).status == DeliveryStatus.DONE, message="the replay done")
    runs = wait_until(lambda: [s for s in spans.get_finished_spans() if s.name == "deliver test.flaky"][1:] and
                      [s for s in spans.get_finished_spans() if s.name == "deliver test.flaky"],
                      message="both runs' spans")
    first, replayed = runs
    original_trace = original.get_span_context().trace_id
    assert first.context.trace_id == original_trace  # the first run: in the publishing trace itself
    assert replayed.context.trace_id != original_trace  # the replay's message came from elsewhere...
    assert [link.context.trace_id for link in replayed.links] == [original_trace]  # ...and links back
    assert effects("test.flaky", event.id) == 1
