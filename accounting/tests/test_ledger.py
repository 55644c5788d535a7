"""The ledger: postings once per event, balanced and immutable in the database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from accounting import exports, queries, services, subscribers
from accounting.models import Account, JournalEntry, JournalLine, Reimbursement
from events.envelope import Envelope
from events.models import Delivery, Event
from events.running import run_delivery
from expenses import services as expense_services
from expenses.events import ExpenseApproved
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


def approve(team, amount="80.00"):
    expense = team.expense(amount=amount, submit=True)
    expense_services.expense_approve(actor=team.manager, expense_id=expense.pk)
    return expense, Event.objects.get(type="expense.approved", aggregate_id=str(expense.pk))


def test_the_same_approval_delivered_three_times_posts_once_and_queues_once():
    team = make_team()
    expense, event = approve(team)
    post = Delivery.objects.get(event=event, subscriber="accounting.post_approved_expense")
    queue = Delivery.objects.get(event=event, subscriber="accounting.queue_reimbursement")

    for _ in range(3):
        run_delivery(post.pk)
        run_delivery(queue.pk)
    # and a duplicate that bypassed the delivery bookkeeping altogether:
    typed = ExpenseApproved.from_payload(event.payload)
    envelope = Envelope.of(event, post.pk)
    with transaction.atomic():
        subscribers.post_approved_expense(typed, envelope)
        subscribers.queue_reimbursement(typed, envelope)

    assert JournalEntry.objects.filter(source_event_id=event.id).count() == 1
    assert Reimbursement.objects.filter(expense_id=expense.pk).count() == 1
    r = Reimbursement.objects.get()
    assert (r.idempotency_key, r.amount, r.state) == (f"reimburse-{expense.pk}", Decimal("80.00"), "queued")
    assert queries.payable_balance(team.org.pk) == Decimal("80.00")


def test_posting_debits_the_category_and_credits_payable():
    team = make_team()
    approve(team, "80.00")
    run_deliveries(prefix="accounting.")
    rows = {row.account.code: (row.debit, row.credit) for row in queries.trial_balance(team.org.pk)
            if row.debit or row.credit}
    expense_code = Account.objects.get(category=team.category).code
    assert rows == {expense_code: (Decimal("80.00"), Decimal("0")), Account.PAYABLE: (Decimal("0"), Decimal("80.00"))}


def test_posting_service_refuses_an_unbalanced_entry():
    team = make_team()
    services.ensure_chart_of_accounts(team.org)
    cash = Account.objects.get(organization=team.org, code=Account.CASH)
    payable = Account.objects.get(organization=team.org, code=Account.PAYABLE)
    with pytest.raises(services.UnbalancedEntry):
        services.journal_post(organization_id=team.org.pk, entry_date="2026-01-01", memo="x",
                              lines=[services.Line(cash, debit=Decimal("5")),
                                     services.Line(payable, credit=Decimal("4"))])
    assert JournalEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_an_unbalanced_entry_written_with_raw_sql():
    team = make_team()
    services.ensure_chart_of_accounts(team.org)
    cash = Account.objects.get(organization=team.org, code=Account.CASH)
    payable = Account.objects.get(organization=team.org, code=Account.PAYABLE)
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("INSERT INTO accounting_journalentry (id, organization_id, date, memo, created_at) "
                    "VALUES ('11111111-1111-1111-1111-111111111111', %s, '2026-01-01', 'raw', now())", [team.org.pk])
        cur.execute("INSERT INTO accounting_journalline (entry_id, account_id, debit, credit) VALUES "
                    "('11111111-1111-1111-1111-111111111111', %s, 10, 0), "
                    "('11111111-1111-1111-1111-111111111111', %s, 0, 9)", [cash.pk, payable.pk])
    assert JournalEntry.objects.count() == 0
    with pytest.raises(IntegrityError, match="at least two"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("INSERT INTO accounting_journalentry (id, organization_id, date, memo, created_at) "
                    "VALUES ('22222222-2222-2222-2222-222222222222', %s, '2026-01-01', 'empty', now())", [team.org.pk])
    assert JournalEntry.objects.count() == 0


def test_the_database_refuses_to_change_or_delete_a_posted_line():
    team = make_team()
    approve(team)
    run_deliveries(prefix="accounting.")
    line = JournalLine.objects.first()
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE accounting_journalline SET debit = debit + 1 WHERE id = %s", [line.pk])
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM accounting_journalline WHERE id = %s", [line.pk])
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE accounting_journalentry SET memo = 'x' WHERE id = %s", [line.entry_id])


def test_a_reversal_mirrors_the_entry_and_nets_to_zero():
    team = make_team()
    approve(team, "30.00")
    run_deliveries(prefix="accounting.")
    entry = JournalEntry.objects.get()
    reversal = services.journal_reverse(actor=team.finance, entry_id=entry.pk)
    assert reversal.reversal_of == entry
    assert all(row.debit == row.credit for row in queries.trial_balance(team.org.pk))


def test_account_ledger_has_a_running_balance_and_export_lists_every_line():
    team = make_team()
    approve(team, "30.00")
    approve(team, "20.00")
    run_deliveries(prefix="accounting.")
    payable = Account.objects.get(organization=team.org, code=Account.PAYABLE)
    _, rows = queries.account_ledger(team.org.pk, payable.pk)
    assert [row["balance"] for row in rows] == [Decimal("30.00"), Decimal("50.00")]
    _, lines = exports.read_lines(organization_id=team.org.pk)
    csv_text = exports.render_csv(lines, currency=team.org.currency).decode()
    assert len(csv_text.strip().splitlines()) == 1 + 4


@pytest.mark.clock
def test_entries_are_booked_on_the_organisations_date_not_the_servers(frozen_clock):
    # Around midnight where the organisation is (the clock's moments), the server's UTC date is
    # another day: the approval, the payment and a reversal are all booked on the organisation's.
    team = make_team()
    approve(team, "30.00")
    run_deliveries(prefix="accounting.")
    batch = services.payout_run(organization=team.org)
    services.payout_batch_confirm(actor=team.finance, batch_id=batch.pk)
    run_deliveries(prefix="accounting.")
    posted = JournalEntry.objects.get(memo__startswith="Approved expense")
    services.journal_reverse(actor=team.finance, entry_id=posted.pk)
    assert JournalEntry.objects.count() == 3
    assert set(JournalEntry.objects.values_list("date", flat=True)) == {team.org.today()}
