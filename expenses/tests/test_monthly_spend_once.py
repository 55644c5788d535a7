"""A rebuild that ran ahead of live deliveries is not counted twice (the subscriber's own
idempotency record), and the two-step approval's separation of duties: the manager approver
never gives the finance step, finance never gives the manager step."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from events.models import Event
from expenses import services
from expenses.models import Approval, Expense, MonthlySpend
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db

SUBSCRIBER = "expenses.monthly_spend"


def rows():
    return sorted(MonthlySpend.objects.values_list(
        "organization_id", "month", "cost_center_id", "cost_center_code", "category_id", "category_name",
        "submitted_count", "approved_count", "rejected_count", "approved_total"))


def some_history(team):
    approved = team.expense(amount="120.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=approved.pk)
    rejected = team.expense(employee=team.colleague, amount="30.00", submit=True)
    services.expense_reject(actor=team.manager, expense_id=rejected.pk, reason="Not a business cost.")
    withdrawn = team.expense(amount="10.00", submit=True)
    services.expense_withdraw(actor=team.employee, expense_id=withdrawn.pk)
    team.expense(amount="15.00", submit=True)


def test_a_rebuild_ahead_of_live_deliveries_is_not_counted_twice():
    # given events published but not yet delivered
    team = make_team()
    some_history(team)
    assert not MonthlySpend.objects.exists()

    # when the read model is rebuilt from the log first, and the live deliveries run afterwards
    call_command("rebuild_read_models", stdout=io.StringIO())
    rebuilt = rows()
    assert set(run_deliveries(subscriber=SUBSCRIBER)) <= {"done"}

    # then the deliveries found their events applied and changed nothing
    assert rows() == rebuilt
    (row,) = MonthlySpend.objects.all()
    assert (row.submitted_count, row.approved_count, row.rejected_count, row.approved_total) == (
        1, 1, 1, Decimal("120.00"))


def test_the_manager_approver_cannot_also_give_the_finance_step():
    # given an expense above the threshold whose manager step an admin gave
    team = make_team(threshold="100.00")
    expense = team.expense(amount="300.00", submit=True)
    services.expense_approve(actor=team.admin, expense_id=expense.pk)
    before = (Event.objects.count(), Approval.objects.count(), Expense.objects.get(pk=expense.pk).version)

    # when the same admin tries the finance step
    with pytest.raises(Exception) as caught:
        services.expense_approve(actor=team.admin, expense_id=expense.pk)

    # then it is refused and nothing was written or published
    assert caught.value.code == "not_an_approver" and caught.value.http_status == 403
    assert (Event.objects.count(), Approval.objects.count(), Expense.objects.get(pk=expense.pk).version) == before


def test_finance_cannot_give_the_manager_step():
    team = make_team(threshold="100.00")
    expense = team.expense(amount="300.00", submit=True)
    before = (Event.objects.count(), Approval.objects.count())

    with pytest.raises(Exception) as caught:
        services.expense_approve(actor=team.finance, expense_id=expense.pk)

    assert caught.value.code == "not_an_approver"
    assert (Event.objects.count(), Approval.objects.count()) == before
