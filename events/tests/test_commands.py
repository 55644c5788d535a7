"""`manage.py events ...`: status, catalogue, replay, backfill."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from events.models import Delivery, DeliveryStatus
from events.publishing import publish
from events.running import run_delivery
from tests.support.subscribers import Pinged

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("events", *args, stdout=out)
    return out.getvalue()


def test_status_reports_counts_per_subscriber_and_dead_letters(effects):
    with transaction.atomic():
        event = publish(Pinged(key="s"), organization_id=1)
    Delivery.objects.filter(event=event, subscriber="test.flaky").update(status=DeliveryStatus.DEAD)
    run_delivery(Delivery.objects.get(event=event, subscriber="test.record").pk)

    rows = {row["subscriber"]: row for row in json.loads(_run("status", "--json"))}

    assert rows["test.record"]["done"] == 1 and rows["test.record"]["pending"] == 0
    assert rows["test.flaky"]["dead"] == 1
    assert "dead letters: 1" in _run("status")


def test_catalogue_is_generated_from_code():
    entries = {entry["type"]: entry for entry in json.loads(_run("catalogue", "--json"))}
    pinged = entries["test.pinged"]
    assert pinged["fields"] == [{"name": "key", "type": "str"}, {"name": "note", "type": "str"}]
    assert {s["name"] for s in pinged["subscribers"]} == {"test.record", "test.flaky", "audit.record"}
    assert "expense.approved" in entries and entries["expense.approved"]["publisher"] == "expenses"


def test_replay_command_resets_dead_deliveries_of_one_subscriber():
    with transaction.atomic():
        event = publish(Pinged(key="r"), organization_id=1)
    Delivery.objects.filter(event=event).update(status=DeliveryStatus.DEAD, attempts=4)

    assert "replayed 1 deliveries" in _run("replay", "--subscriber", "test.flaky")
    statuses = dict(Delivery.objects.filter(event=event).values_list("subscriber", "status"))
    assert statuses == {"test.flaky": "pending", "test.record": "dead", "audit.record": "dead"}


def test_backfill_of_an_unknown_subscriber_is_a_clear_error():
    with pytest.raises(CommandError, match="unknown subscriber 'nobody'"):
        _run("backfill", "nobody")
