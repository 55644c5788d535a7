"""The audit trail: one entry per event, a chain that verifies, and a table the app cannot rewrite."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
from audit.services import verify_chain
from events.envelope import Envelope
from events.models import Delivery, Event
from expenses import services
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries
from tests.support.maintenance import admin_connection, audit_triggers_lifted


def full_flow(team):
    expense = team.expense(amount="1500.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    services.expense_approve(actor=team.finance, expense_id=expense.pk)
    other = team.expense(amount="30.00", submit=True)
    services.expense_reject(actor=team.manager, expense_id=other.pk, reason="duplicate")
    return expense


@pytest.mark.django_db
def test_every_event_of_a_flow_is_recorded_once_even_when_delivered_twice():
    team = make_team(threshold="1000.00")
    expense = full_flow(team)

    run_deliveries(subscriber="audit.record", done_too=True, times=2)

    assert AuditEntry.objects.count() == Event.objects.count() == 5
    assert set(AuditEntry.objects.values_list("event_id", flat=True)) == set(Event.objects.values_list("id", flat=True))
    trail = list(AuditEntry.objects.filter(object_id=str(expense.pk)).order_by("sequence")
                 .values_list("action", flat=True))
    assert trail == ["expense.submitted", "expense.approval_recorded", "expense.approved"]
    assert verify_chain(team.org.pk).ok


@pytest.mark.django_db
def test_a_duplicate_bypassing_the_delivery_lock_is_not_recorded_twice():
    from audit.subscribers import record
    from events.types import event_type

    team = make_team()
    team.expense(submit=True)
    run_deliveries(subscriber="audit.record")
    row = Event.objects.get()
    with transaction.atomic():
        record(event_type(row.type).from_payload(row.payload), Envelope.of(row, 0))
    assert AuditEntry.objects.count() == 1


@pytest.mark.django_db
def test_the_app_connection_cannot_update_or_delete_audit_entries():
    team = make_team()
    team.expense(submit=True)
    run_deliveries(subscriber="audit.record")
    for sql in ("UPDATE audit_auditentry SET action = 'x'", "DELETE FROM audit_auditentry",
                "TRUNCATE audit_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert AuditEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_verify_audit_finds_an_entry_changed_with_triggers_disabled():
    team = make_team()
    full_flow(team)
    run_deliveries(subscriber="audit.record")
    target = AuditEntry.objects.get(sequence=3)
    with admin_connection() as conn:  # a superuser, triggers off: the only way to tamper
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE audit_auditentry SET payload = jsonb_set(payload, '{amount}', '\"1.00\"') "
                     "WHERE id = %s", [target.pk])

    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit", "--organisation", str(team.org.pk), stdout=out, stderr=err)

    assert exited.value.code == 1
    assert "BROKEN at entry #3" in err.getvalue()
    assert verify_chain(team.org.pk).broken_at == 3


@pytest.mark.django_db(transaction=True)
def test_verify_audit_finds_entries_deleted_at_the_tail():
    # Removing the last entries breaks no link (every remaining prev_hash still matches): only the
    # chain head, updated with every append, shows that the chain used to be longer.
    team = make_team()
    full_flow(team)
    run_deliveries(subscriber="audit.record")
    assert verify_chain(team.org.pk).ok
    with audit_triggers_lifted() as conn:
        conn.execute("DELETE FROM audit_auditentry WHERE organization_id = %s AND sequence = 5", [team.org.pk])

    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit", "--organisation", str(team.org.pk), stdout=out, stderr=err)

    assert exited.value.code == 1
    assert "BROKEN at entry #5: entries #5 to #5 are missing at the tail" in err.getvalue()
    assert AuditEntry.objects.filter(organization_id=team.org.pk).count() == 4


@pytest.mark.django_db(transaction=True)
def test_verify_audit_finds_a_chain_emptied_behind_its_head():
    team = make_team()
    full_flow(team)
    run_deliveries(subscriber="audit.record")
    with audit_triggers_lifted() as conn:
        conn.execute("DELETE FROM audit_auditentry WHERE organization_id = %s", [team.org.pk])

    report = verify_chain(team.org.pk)

    assert (report.ok, report.entries, report.broken_at) == (False, 0, 1)
    assert "entries #1 to #5 are missing" in report.reason


@pytest.mark.django_db
def test_an_append_after_the_head_was_read_is_not_a_missing_tail():
    team = make_team()
    team.expense(submit=True)
    run_deliveries(subscriber="audit.record")
    team.expense(submit=True)
    run_deliveries(subscriber="audit.record")  # two entries, head at #2
    assert verify_chain(team.org.pk).ok
    # A head that lags its entries is what a verifier sees when an append commits between its two
    # reads; the entries it has not seen yet are newer, not missing.
    from audit.models import AuditChainHead

    head = AuditChainHead.objects.get(organization_id=team.org.pk)
    first = AuditEntry.objects.get(organization_id=team.org.pk, sequence=1)
    AuditChainHead.objects.filter(pk=head.pk).update(last_sequence=1, last_hash=first.hash)
    assert verify_chain(team.org.pk).ok


@pytest.mark.django_db(transaction=True)
def test_the_update_trigger_is_what_stops_tampering_and_verify_audit_is_what_catches_it():
    # With the trigger: the app's connection cannot rewrite an entry.
    team = make_team()
    full_flow(team)
    run_deliveries(subscriber="audit.record")
    target = AuditEntry.objects.get(organization_id=team.org.pk, sequence=2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE audit_auditentry SET actor_label = 'someone else' WHERE id = %s", [target.pk])
    assert AuditEntry.objects.get(pk=target.pk).actor_label == target.actor_label

    # Without it (the maintenance path lifts triggers), the same statement goes through...
    with audit_triggers_lifted() as conn:
        assert conn.execute("UPDATE audit_auditentry SET actor_label = 'someone else' WHERE id = %s",
                            [target.pk]).rowcount == 1
    assert AuditEntry.objects.get(pk=target.pk).actor_label == "someone else"
    # ...and the hash chain is the second line of defence.
    assert verify_chain(team.org.pk).broken_at == 2


@pytest.mark.django_db
def test_verify_audit_passes_an_intact_chain():
    team = make_team()
    full_flow(team)
    run_deliveries(subscriber="audit.record")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "5 entries, chain intact" in out.getvalue()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_200_events_appended_by_two_workers_leave_one_valid_chain(celery_processes, effects):
    from events.publishing import publish
    from tests.support.processes import wait_until
    from tests.support.subscribers import Pinged

    celery_processes.worker(concurrency=2)
    celery_processes.worker(concurrency=2)
    for batch in range(10):
        with transaction.atomic():
            for i in range(20):
                publish(Pinged(key=f"k{batch}-{i}"), organization_id=42)

    wait_until(lambda: Delivery.objects.filter(subscriber="audit.record", status="done").count() == 200,
               timeout=120, message="200 audit deliveries done")
    assert AuditEntry.objects.filter(organization_id=42).count() == 200
    assert sorted(AuditEntry.objects.values_list("sequence", flat=True)) == list(range(1, 201))
    assert verify_chain(42).ok


@pytest.mark.django_db
def test_a_batch_of_audit_deliveries_is_one_insert_in_claim_order_and_never_recorded_twice():
    from django.test.utils import CaptureQueriesContext

    from audit.subscribers import record_batch
    from events.publishing import publish
    from events.running import drain
    from events.types import event_type
    from tests.support.subscribers import Pinged

    # given eight events of two organisations, interleaved, their audit deliveries waiting
    events = [publish(Pinged(key=f"b{i}"), organization_id=7 if i % 2 else 8) for i in range(8)]

    # when a worker with a backlog runs them as one batch
    with CaptureQueriesContext(connection) as queries:
        assert drain("audit.record", batch=50, seconds=60) == 8

    # then the entries went in with one statement, each chain in the order the events were published
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "audit_auditentry"')]
    assert len(inserts) == 1
    for org in (7, 8):
        chain = list(AuditEntry.objects.filter(organization_id=org).order_by("sequence")
                     .values_list("event_id", flat=True))
        assert chain == [e.id for e in events if e.organization_id == org]
        assert verify_chain(org).ok

    # and the same batch handed to the batch form again (as if "done" had been lost) records nothing
    rows = Event.objects.filter(id__in=[e.id for e in events]).order_by("occurred_at")
    record_batch([(event_type(r.type).from_payload(r.payload), Envelope.of(r, 0)) for r in rows])
    assert AuditEntry.objects.count() == 8
    assert verify_chain(7).ok and verify_chain(8).ok
