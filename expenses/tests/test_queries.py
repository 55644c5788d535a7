"""Reads: who sees which expense, the approval queue (one query), my expenses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.errors import NotFound
from expenses import queries, services
from expenses.models import ExpenseState
from expenses.tests.factories import ApprovalFactory, ExpenseFactory, make_team
from organizations.models import Role
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_detail_is_visible_to_owner_reporting_line_finance_and_admin():
    # given an expense of an employee whose manager reports to a director
    team = make_team()
    director = MembershipFactory(organization=team.org, role=Role.MANAGER)
    team.manager.reports_to = director
    team.manager.save(update_fields=["reports_to"])
    expense = team.expense()

    # then the employee, both managers up the line, finance and the admin see it, with approvals
    for viewer in (team.employee, team.manager, director, team.finance, team.admin):
        assert queries.expense_detail(viewer, expense.pk).pk == expense.pk


def test_detail_is_not_found_for_a_colleague_another_manager_or_another_organisation():
    team = make_team()
    expense = team.expense()
    other_manager = MembershipFactory(organization=team.org, role=Role.MANAGER)
    outsider = make_team().admin

    for viewer in (team.colleague, other_manager, outsider):
        with pytest.raises(NotFound) as caught:
            queries.expense_detail(viewer, expense.pk)
        assert caught.value.code == "not_found"
    with pytest.raises(NotFound):
        queries.expense_detail(team.admin, "not-a-uuid")


def test_my_expenses_lists_only_my_own_newest_first():
    team = make_team()
    first = team.expense()
    second = team.expense()
    team.expense(employee=team.colleague)

    assert [e.pk for e in queries.my_expenses(team.employee)] == [second.pk, first.pk]


def test_awaiting_my_approval_is_two_queries_however_deep_the_line(django_assert_num_queries):
    # given a two-level reporting line with submitted expenses at both levels
    team = make_team()
    lead = MembershipFactory(organization=team.org, role=Role.MANAGER, reports_to=team.manager)
    report_of_lead = MembershipFactory(organization=team.org, reports_to=lead)
    direct = team.expense(submit=True)
    indirect = team.expense(employee=report_of_lead, submit=True)
    team.expense(employee=team.manager, submit=True)  # the manager's own: never in their queue
    ExpenseFactory(state=ExpenseState.SUBMITTED)  # another organisation

    # when the manager reads the queue (one query for the delegations they hold today, one for the queue)
    with django_assert_num_queries(2):
        queue = [(e.pk, e.remaining_budget, e.cost_center.code) for e in queries.awaiting_my_approval(team.manager)]

    # then both reports' expenses are there, oldest first, with the cost centre's budget left
    assert [pk for pk, _, _ in queue] == [direct.pk, indirect.pk]
    assert {left for _, left, _ in queue} == {team.cost_center.monthly_budget}


def test_finance_queue_holds_expenses_whose_manager_approved_and_admin_skips_its_own_first_step():
    team = make_team(threshold="100.00")
    big = team.expense(amount="300.00", submit=True)
    waiting_for_manager = team.expense(employee=team.colleague, amount="300.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=big.pk)
    by_admin = team.expense(amount="200.00", submit=True)
    services.expense_approve(actor=team.admin, expense_id=by_admin.pk)

    assert [e.pk for e in queries.awaiting_my_approval(team.finance)] == [big.pk, by_admin.pk]
    assert [e.pk for e in queries.awaiting_my_approval(team.admin)] == [big.pk, waiting_for_manager.pk]


def test_factories_keep_one_organisation():
    approval = ApprovalFactory()
    expense = approval.expense
    org_ids = {expense.organization_id, expense.employee.organization_id, expense.cost_center.organization_id,
               expense.category.organization_id, approval.approver.organization_id}
    assert len(org_ids) == 1
    assert expense.state == ExpenseState.SUBMITTED and expense.submitted_at is not None


def test_the_queue_and_the_approval_count_a_months_spend_the_same_way_as_a_date_range():
    # approved spend on either side of a year's end; the queue's "budget left" is the command's
    team = make_team(budget="1000.00")
    for day, amount in ((dt.date(2025, 12, 31), "100.00"), (dt.date(2026, 1, 1), "250.00"),
                        (dt.date(2026, 1, 31), "50.00"), (dt.date(2026, 2, 1), "7.00")):
        ExpenseFactory(organization=team.org, employee=team.colleague, cost_center=team.cost_center,
                       category=team.category, state=ExpenseState.APPROVED, incurred_on=day, amount=Decimal(amount))
    for day in (dt.date(2025, 12, 15), dt.date(2026, 1, 15), dt.date(2026, 2, 15)):
        ExpenseFactory(organization=team.org, employee=team.employee, cost_center=team.cost_center,
                       category=team.category, state=ExpenseState.SUBMITTED, incurred_on=day)

    queue = queries.awaiting_my_approval(team.manager)

    left = {e.incurred_on.strftime("%Y-%m"): e.remaining_budget for e in queue}
    assert left == {"2025-12": Decimal("900.00"), "2026-01": Decimal("700.00"), "2026-02": Decimal("993.00")}
    assert left == {month: services.remaining_budget(team.cost_center, month) for month in left}
    assert "EXTRACT" not in str(queue.query).upper()  # year/month extraction defeats expense_budget_idx
