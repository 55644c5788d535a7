"""The batch forms of accounting's ``expense.approved`` subscribers (issue 21): a batch lands exactly
the rows the per-event handlers land one by one, nothing twice, in a few statements for all."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounting import services
from accounting.models import Account, JournalEntry, Reimbursement
from events.envelope import Envelope
from events.models import Delivery, DeliveryStatus, Event
from events.registry import get_subscriber
from events.running import drain
from expenses import services as expense_services
from expenses.events import ExpenseApproved
from expenses.tests.factories import make_team
from organizations.models import Category
from organizations.tests.factories import CategoryFactory, OrganizationFactory

POST = "accounting.post_approved_expense"
QUEUE = "accounting.queue_reimbursement"


def _approve(team, amount: str, **data) -> Event:
    expense = team.expense(amount=amount, submit=True, **data)
    expense_services.expense_approve(actor=team.manager, expense_id=expense.pk)
    return Event.objects.get(type=ExpenseApproved.type, aggregate_id=str(expense.pk))


def _deliveries(events: list[Event], subscriber: str) -> list[tuple[ExpenseApproved, Envelope]]:
    """What the bus hands a handler for each event: the typed event and its envelope."""
    return [(ExpenseApproved.from_payload(e.payload),
             Envelope.of(e, Delivery.objects.get(event=e, subscriber=subscriber).pk)) for e in events]


def _mixed_approvals() -> list[Event]:
    """Approvals of two organisations, interleaved: one with no chart of accounts yet (the first
    posting creates it), one with a chart but a category that has no account yet, over several
    categories. Their time zones (UTC-11, UTC+14) put one of them on another date than UTC's at
    any hour, so a batch that booked on the server's date would show."""
    fresh = make_team(org=OrganizationFactory(time_zone="Pacific/Pago_Pago"))
    second_category = CategoryFactory(organization=fresh.org)
    charted = make_team(org=OrganizationFactory(time_zone="Pacific/Kiritimati"))
    services.ensure_chart_of_accounts(charted.org)
    late_category = CategoryFactory(organization=charted.org)  # after the chart: no account yet
    return [
        _approve(fresh, "80.00"),
        _approve(charted, "12.34"),
        _approve(fresh, "19.99", category_id=second_category.pk),
        _approve(charted, "45.00", category_id=late_category.pk),
        _approve(fresh, "7.50"),
        _approve(charted, "300.00"),
    ]


def _varied(deliveries: list[tuple[ExpenseApproved, Envelope]]) -> list[tuple[ExpenseApproved, Envelope]]:
    """The same deliveries with what real approvals also carry: an expense spent in another
    currency (booked converted), and a memo longer than the column (cut at 300)."""
    (first, first_envelope), (second, second_envelope), *rest = deliveries
    converted = dataclasses.replace(first, amount=Decimal("54.321"), currency="USD", org_amount=Decimal("50.00"),
                                    org_currency=first.booked_currency)
    long_memo = dataclasses.replace(second, merchant="M" * 200, employee_name="N" * 150)
    return [(converted, first_envelope), (long_memo, second_envelope), *rest]


def _effects(apply) -> tuple[list, list, list, list]:
    """Run ``apply`` in a savepoint rolled back afterwards; return the ledger, the chart of
    accounts, the reimbursements it left (every column but ids and creation times) and the
    source events of the entries in creation order. The checks PostgreSQL defers to commit run
    before the rows are read."""
    with transaction.atomic():
        apply()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")
        entries = JournalEntry.objects.order_by("source_event_id").prefetch_related("lines__account")
        ledger = [(e.organization_id, e.date, e.memo, e.source_event_id, e.expense_id, e.original_amount,
                   e.original_currency, e.reversal_of_id,
                   [(line.account.organization_id, line.account.code, line.debit, line.credit)
                    for line in e.lines.all()])
                  for e in entries]
        chart = sorted(Account.objects.values_list("organization_id", "code", "name", "kind", "category_id"))
        reimbursements = list(Reimbursement.objects.order_by("source_event_id").values_list(
            "organization_id", "expense_id", "idempotency_key", "employee_user_id", "payee_name", "payee_email",
            "amount", "currency", "merchant", "incurred_on", "state", "batch_id", "failure_reason", "source_event_id",
            "paid_at"))
        created = list(JournalEntry.objects.order_by("created_at", "source_event_id")
                       .values_list("source_event_id", flat=True))
        transaction.set_rollback(True)
    return ledger, chart, reimbursements, created


def _one_by_one(subscriber: str, deliveries) -> None:
    for event, envelope in deliveries:
        get_subscriber(subscriber).handler(event, envelope)


def _as_one_batch(subscriber: str, deliveries) -> None:
    get_subscriber(subscriber).batch_handler(deliveries)


@pytest.mark.django_db
@pytest.mark.parametrize("subscriber", [POST, QUEUE])
def test_a_batch_lands_the_rows_the_per_event_handler_lands_one_by_one(subscriber):
    # given six approvals of two organisations, as their deliveries would hand them over
    deliveries = _varied(_deliveries(_mixed_approvals(), subscriber))

    # when they run one by one through the per-event handler, and (from the same state) as one batch
    one_by_one = _effects(lambda: _one_by_one(subscriber, deliveries))
    as_one_batch = _effects(lambda: _as_one_batch(subscriber, deliveries))

    # then the rows are the same, column by column, and the entries were created in the events' order
    assert as_one_batch == one_by_one
    ledger, chart, reimbursements, created = as_one_batch
    if subscriber == POST:
        assert len(ledger) == 6 and not reimbursements
        assert created == [envelope.event_id for _, envelope in deliveries]
        assert ledger[[e[3] for e in ledger].index(deliveries[0][1].event_id)][5:7] == (Decimal("54.321"), "USD")
        assert 300 in {len(e[2]) for e in ledger}  # the long memo, cut as one at a time cuts it
        assert len(chart) > 4  # both charts, and the accounts of the categories that had none
    else:
        assert len(reimbursements) == 6 and not ledger


@pytest.mark.django_db
@pytest.mark.parametrize("subscriber", [POST, QUEUE])
def test_a_batch_mixing_handled_and_new_events_lands_only_the_new_and_a_redelivery_nothing(subscriber):
    # given six approvals, of which the first three were handled one by one already
    deliveries = _deliveries(_mixed_approvals(), subscriber)
    everything_one_by_one = _effects(lambda: _one_by_one(subscriber, deliveries))
    _one_by_one(subscriber, deliveries[:3])

    # when all six come as one batch, one of the new ones twice (a duplicated message)
    _as_one_batch(subscriber, [*deliveries, deliveries[4]])

    # then only the three new ones landed, once each: the rows are those of all six one by one
    assert _effects(lambda: None)[:3] == everything_one_by_one[:3]
    assert JournalEntry.objects.count() + Reimbursement.objects.count() == 6

    # and the same batch again (as if "done" had been lost) changes nothing
    _as_one_batch(subscriber, deliveries)
    assert _effects(lambda: None)[:3] == everything_one_by_one[:3]


@pytest.mark.django_db(transaction=True)
def test_a_backlog_of_approvals_drains_through_the_batch_forms_in_a_few_statements(transactional_db,
                                                                                    redis_client, settings):
    settings.OUTBOX_DRAIN_SECONDS = 30
    # given a backlog of twelve approvals of two organisations, their accounting deliveries waiting
    teams = [make_team(org=OrganizationFactory(time_zone=zone)) for zone in ("Pacific/Pago_Pago", "Pacific/Kiritimati")]
    for team in teams:  # the steady state: the charts exist (their creation is compared above)
        services.ensure_chart_of_accounts(team.org)
    zones = {team.org.pk: team.org for team in teams}
    events = [_approve(teams[i % 2], f"{10 + i}.25") for i in range(12)]
    waiting = Delivery.objects.filter(subscriber__in=[POST, QUEUE])
    assert waiting.filter(status=DeliveryStatus.PENDING).count() == 24

    # when a worker drains each subscriber in batches
    statements = {}
    for name in (POST, QUEUE):
        with CaptureQueriesContext(connection) as captured:
            assert drain(name, batch=50, seconds=30) == 12
        statements[name] = [q["sql"] for q in captured.captured_queries]

    # then every delivery is done and each effect landed once, as the per-event handler books it
    assert set(waiting.values_list("status", flat=True)) == {DeliveryStatus.DONE}
    for event in events:
        typed = ExpenseApproved.from_payload(event.payload)
        entry = JournalEntry.objects.get(source_event_id=event.id)
        assert (entry.organization_id, entry.expense_id, entry.date) == (
            typed.organization_id, typed.expense_id, zones[typed.organization_id].date_of(typed.approved_at))
        assert entry.memo == f"Approved expense {typed.merchant} ({typed.employee_name})"
        assert [(line.account.code, line.debit, line.credit) for line in entry.lines.order_by("id")] == [
            (Account.objects.get(category_id=typed.category_id).code, typed.booked_amount, Decimal("0")),
            (Account.PAYABLE, Decimal("0"), typed.booked_amount)]
        r = Reimbursement.objects.get(expense_id=typed.expense_id)
        assert (r.idempotency_key, r.amount, r.source_event_id) == (f"reimburse-{typed.expense_id}",
                                                                      typed.booked_amount, event.id)
    assert JournalEntry.objects.count() == Reimbursement.objects.count() == 12

    # and the batch forms ran, once for the twelve (one insert each), in a handful of statements
    def inserts(table: str, name: str) -> int:
        return sum(1 for sql in statements[name] if sql.startswith(f'INSERT INTO "{table}"'))

    assert inserts("accounting_journalentry", POST) == inserts("accounting_journalline", POST) == 1
    assert inserts("accounting_reimbursement", QUEUE) == 1
    # (the claim, its transaction, the lease check, the savepoint, the deferred checks, "done", the
    # claim that finds the backlog gone: nine; the handlers' own, one by one, would be 5-9 each)
    assert len(statements[POST]) <= 9 + 5 and len(statements[QUEUE]) <= 9 + 1, statements


@pytest.mark.django_db
def test_a_batch_refuses_an_approval_naming_another_organisations_category_and_writes_nothing():
    # given a batch in which one approval names a category of another organisation, which has
    # an account for it
    other_team = make_team()
    services.ensure_chart_of_accounts(other_team.org)
    chart = sorted(Account.objects.values_list("pk", flat=True))
    (good, good_envelope), (other, other_envelope) = _deliveries(
        [_approve(make_team(), "10.00"), _approve(other_team, "20.00")], POST)
    stray = dataclasses.replace(other, organization_id=good.organization_id)

    # when the batch form runs, then it refuses (the bus then runs the batch one by one, so only
    # that delivery fails), as the per-event handler does: the other organisation's account is not
    # used, and nothing is written
    for apply in (lambda: _as_one_batch(POST, [(good, good_envelope), (stray, other_envelope)]),
                  lambda: _one_by_one(POST, [(stray, other_envelope)])):
        with pytest.raises(Category.DoesNotExist), transaction.atomic():
            apply()
    assert sorted(Account.objects.values_list("pk", flat=True)) == chart and not JournalEntry.objects.exists()
