"""Payout batches: the file matches the batch, confirming publishes once, and the books balance."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting import queries, services
from accounting.models import PayoutBatch, Reimbursement
from accounting.tests.test_ledger import approve
from core.errors import DomainError
from events.models import Event
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


def test_payout_file_has_one_row_per_reimbursement_and_sums_to_the_total():
    team = make_team()
    for amount in ("12.50", "100.00", "7.25"):
        approve(team, amount)
    run_deliveries(prefix="accounting.")

    batch = services.payout_run(organization=team.org)

    rows = list(csv.DictReader(io.StringIO(batch.payment_file)))
    assert len(rows) == 3 and batch.total == Decimal("119.75")
    assert sum(Decimal(row["amount"]) for row in rows) == batch.total
    assert {row["currency"] for row in rows} == {"EUR"}
    assert set(Reimbursement.objects.values_list("state", flat=True)) == {"in_batch"}
    assert services.payout_run(organization=team.org) is None  # nothing left queued


def test_confirming_twice_is_refused_and_publishes_nothing_the_second_time():
    team = make_team()
    approve(team, "40.00")
    run_deliveries(prefix="accounting.")
    batch = services.payout_run(organization=team.org)

    services.payout_batch_confirm(actor=team.finance, batch_id=batch.pk)
    events = Event.objects.count()
    with pytest.raises(services.BatchAlreadyConfirmed):
        services.payout_batch_confirm(actor=team.finance, batch_id=batch.pk)

    assert Event.objects.count() == events
    assert Event.objects.filter(type="reimbursement.paid").count() == 1
    assert Event.objects.filter(type="payout_batch.confirmed").count() == 1


def test_only_finance_of_the_same_organisation_may_confirm():
    team = make_team()
    other = make_team()
    approve(team, "40.00")
    run_deliveries(prefix="accounting.")
    batch = services.payout_run(organization=team.org)
    for actor, code in ((team.manager, "permission_denied"), (team.employee, "permission_denied"),
                        (other.finance, "not_found")):
        with pytest.raises(DomainError) as caught:
            services.payout_batch_confirm(actor=actor, batch_id=batch.pk)
        assert caught.value.code == code
    assert PayoutBatch.objects.get().state == "open"


def test_a_failed_payment_can_be_queued_again():
    team = make_team()
    approve(team, "40.00")
    run_deliveries(prefix="accounting.")
    services.payout_run(organization=team.org)
    r = Reimbursement.objects.get()
    services.reimbursement_mark_failed(actor=team.finance, reimbursement_id=r.pk, reason="IBAN closed")
    assert Event.objects.filter(type="reimbursement.failed").count() == 1
    services.reimbursement_requeue(actor=team.finance, reimbursement_id=r.pk)
    assert services.payout_run(organization=team.org).total == Decimal("40.00")


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=st.lists(st.sampled_from(["approve", "approve", "deliver", "redeliver", "payout", "confirm"]),
                     min_size=4, max_size=25),
       amounts=st.lists(st.decimals(min_value=Decimal("1"), max_value=Decimal("500"), places=2),
                        min_size=25, max_size=25))
def test_books_balance_and_payable_equals_unpaid_approvals(plan, amounts):
    from django.db import transaction

    with transaction.atomic():
        team = make_team(budget="100000.00")
        for step, amount in zip(plan, amounts, strict=False):
            if step == "approve":
                approve(team, str(amount))
            elif step in ("deliver", "redeliver"):
                run_deliveries(prefix="accounting.")
                if step == "redeliver":  # every delivery again, done ones included
                    run_deliveries(prefix="accounting.", done_too=True)
            elif step == "payout":
                services.payout_run(organization=team.org)
            else:
                for batch in PayoutBatch.objects.filter(organization=team.org, state="open"):
                    services.payout_batch_confirm(actor=team.finance, batch_id=batch.pk)
        run_deliveries(prefix="accounting.")  # drain: every approval and payment posted
        rows = queries.trial_balance(team.org.pk)
        assert sum(r.debit for r in rows) == sum(r.credit for r in rows)
        unpaid = sum((r.amount for r in Reimbursement.objects.filter(organization=team.org).exclude(state="paid")),
                     Decimal("0"))
        assert queries.payable_balance(team.org.pk) == unpaid
        assert Reimbursement.objects.filter(organization=team.org).count() == Event.objects.filter(
            type="expense.approved", organization_id=team.org.pk).count()
        transaction.set_rollback(True)


def test_one_expenses_reimbursement_state_is_what_the_states_read_answers():
    """The expense page's one-row read (a prepared statement) against the list's: the state once
    queued and once in a batch, "" before, and nothing across organisations."""
    team = make_team()
    expense, _ = approve(team, "12.50")
    waiting = team.expense(amount="3.00", submit=True)
    assert queries.reimbursement_state(team.org.pk, expense.pk) == ""
    run_deliveries(prefix="accounting.")
    for wanted in ("queued", "in_batch"):
        assert queries.reimbursement_state(team.org.pk, expense.pk) == wanted == \
            queries.reimbursement_states(team.org.pk, [expense.pk])[expense.pk]
        services.payout_run(organization=team.org)
    assert queries.reimbursement_state(team.org.pk, waiting.pk) == ""
    assert queries.reimbursement_state(make_team().org.pk, expense.pk) == ""
