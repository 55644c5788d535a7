"""The approval queue as a manager opens it, unfiltered (``queries.approval_queue``: the page and
the API), is the queryset's rule (``awaiting_my_approval``) written as one statement. The two must
agree for every approver: here every role, a manager two levels up, another team's manager,
delegations to an employee, a manager and finance, approvals already given by the manager, by
finance and by an admin, the month's approved spend of two cost centres in two months, and an
expense of every state; row for row, with the remaining budget and the step each waits for."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from expenses.api import QueueItemOut
from expenses.models import ApprovalStep, Delegation, ExpenseState
from expenses.queries import approval_queue, awaiting_my_approval
from expenses.tests.factories import ApprovalFactory, ExpenseFactory, make_team
from organizations.models import Role
from organizations.tests.factories import CostCenterFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def _row(expense) -> tuple:
    return (expense.pk, expense.remaining_budget, expense.awaiting, expense.state_label, expense.employee.display_name,
            expense.cost_center.code, expense.category.name, expense.organization.currency)


def _world():
    team = make_team(threshold="100.00", budget="1000.00")
    org = team.org
    director = MembershipFactory(organization=org, role=Role.MANAGER)
    team.manager.reports_to = director
    team.manager.save(update_fields=["reports_to"])
    other_manager = MembershipFactory(organization=org, role=Role.MANAGER)
    outsider = MembershipFactory(organization=org, reports_to=other_manager)
    second_admin = MembershipFactory(organization=org, role=Role.ADMIN)
    stand_ins = {role: MembershipFactory(organization=org, role=Role.EMPLOYEE)
                 for role in (Role.MANAGER, Role.FINANCE, Role.ADMIN)}
    today = org.today()
    for role, delegate in stand_ins.items():
        delegator = {Role.MANAGER: team.manager, Role.FINANCE: team.finance, Role.ADMIN: team.admin}[role]
        Delegation.objects.create(organization=org, delegator=delegator, delegate=delegate,
                                  starts_on=today, ends_on=today)
    # a manager who also stands in for another manager, and finance standing in for a manager
    Delegation.objects.create(organization=org, delegator=director, delegate=other_manager,
                              starts_on=today, ends_on=today)
    Delegation.objects.create(organization=org, delegator=other_manager, delegate=team.finance,
                              starts_on=today, ends_on=today)
    other_cc = CostCenterFactory(organization=org, monthly_budget=Decimal("250.00"))
    last_month = today.replace(day=1) - dt.timedelta(days=1)  # any day of the previous month
    owners = [team.employee, team.colleague, team.manager, outsider, team.finance, stand_ins[Role.MANAGER],
              team.admin]
    expenses = []
    for i, owner in enumerate(owners):
        for state in ExpenseState.values:
            expenses.append(ExpenseFactory(
                organization=org, employee=owner, cost_center=(team.cost_center, other_cc)[i % 2],
                category=team.category, state=state, amount=Decimal(30 + 40 * i),
                incurred_on=(today, last_month)[i % 3 == 2]))
    submitted = [e for e in expenses if e.state == ExpenseState.SUBMITTED]  # one per owner, in order
    unspent = CostCenterFactory(organization=org, monthly_budget=Decimal("90.00"))  # nothing approved on it
    expenses.append(ExpenseFactory(organization=org, employee=team.employee, cost_center=unspent,
                                   category=team.category, state=ExpenseState.SUBMITTED))
    ApprovalFactory(expense=submitted[0], approver=team.manager)  # waits for finance now
    ApprovalFactory(expense=submitted[1], approver=team.admin)  # an admin gave the manager step
    ApprovalFactory(expense=submitted[2], approver=director)  # both steps given, not yet decided
    ApprovalFactory(expense=submitted[2], step=ApprovalStep.FINANCE, approver=team.finance)
    ApprovalFactory(expense=submitted[3], approver=other_manager)
    ApprovalFactory(expense=submitted[4], approver=team.manager)  # finance's own, waiting for finance
    ApprovalFactory(expense=submitted[5], approver=stand_ins[Role.ADMIN], on_behalf_of=team.admin)
    ApprovalFactory(expense=submitted[6], approver=director)  # the admin's own, waiting for finance
    viewers = [team.employee, team.manager, director, other_manager, outsider, team.finance, team.admin,
               second_admin, *stand_ins.values()]
    return team, viewers, expenses


def test_the_queue_statement_agrees_with_the_queryset_for_every_approver():
    _, viewers, expenses = _world()
    seen = set()
    for viewer in viewers:
        expected = [_row(e) for e in awaiting_my_approval(viewer).prefetch_related("approvals")]
        assert [_row(e) for e in approval_queue(viewer)] == expected, viewer
        seen |= {row[0] for row in expected}
    waiting = {e.pk for e in expenses if e.state == ExpenseState.SUBMITTED}
    assert seen and seen <= waiting and len(seen) > 1  # the matrix lists some and leaves some out
    budgets = {row[1] for viewer in viewers for row in map(_row, approval_queue(viewer))}
    assert len(budgets) > 2  # approved spend differs by cost centre and month


def test_the_queue_reads_in_one_statement_and_nothing_more_when_rendered():
    team, _, _ = _world()
    with CaptureQueriesContext(connection) as read:
        rows = approval_queue(team.admin, delegators=[])
        answers = [_row(e) for e in rows]
    assert len(read) == 1 and answers  # awaiting, state label and names read nothing more


def test_the_queue_api_answers_as_its_serializer_unfiltered_and_filtered():
    team, _, _ = _world()
    client = APIClient()
    for viewer in (team.manager, team.finance, team.admin):
        client.force_authenticate(viewer.user)
        rows = list(awaiting_my_approval(viewer).prefetch_related("approvals"))
        expected = [dict(QueueItemOut(e).data) for e in rows]
        answer = client.get("/api/v1/expenses/awaiting-approval/")
        assert answer.status_code == 200, answer.content
        assert answer.json() == _json(expected)
        filtered = client.get("/api/v1/expenses/awaiting-approval/?amount_max=1000000")
        assert filtered.json() == answer.json()


def _json(rows):
    import json

    from rest_framework.utils.encoders import JSONEncoder

    return json.loads(json.dumps(rows, cls=JSONEncoder))


def test_the_queue_page_lists_the_queue_oldest_first_as_its_filtered_form_would():
    import re

    from django.test import Client

    team, _, _ = _world()
    browser = Client()
    browser.force_login(team.admin.user)
    page = browser.get("/approvals/")
    assert page.status_code == 200
    listed = re.findall(r'<tr data-expense="([0-9a-f-]+)"', page.content.decode())
    resorted = browser.get("/approvals/?sort=-submitted")  # the queryset's path, newest first
    assert listed == list(reversed(re.findall(r'<tr data-expense="([0-9a-f-]+)"', resorted.content.decode())))
    assert listed == [str(e.pk) for e in awaiting_my_approval(team.admin)]
    assert "Waiting for finance" in page.content.decode()


def test_the_queue_asks_for_delegations_in_its_own_statement():
    """``queue_and_delegators``: no delegation, one statement; one running today, the delegator's
    team too; an empty own queue cannot answer the probe, so it is asked on its own."""
    from expenses.queries import queue_and_delegators

    team = make_team()
    mine = team.expense(submit=True)
    with CaptureQueriesContext(connection) as read:
        rows, delegators = queue_and_delegators(team.manager)
    assert [e.pk for e in rows] == [mine.pk] and delegators == [] and len(read) == 1

    away = MembershipFactory(organization=team.org, role=Role.MANAGER)
    theirs = team.expense(employee=MembershipFactory(organization=team.org, reports_to=away), submit=True)
    today = team.org.today()
    Delegation.objects.create(organization=team.org, delegator=away, delegate=team.manager, starts_on=today,
                              ends_on=today)
    rows, delegators = queue_and_delegators(team.manager)
    assert {e.pk for e in rows} == {mine.pk, theirs.pk} and delegators == [away]

    lone = MembershipFactory(organization=team.org, role=Role.MANAGER)  # nobody reports to them
    also_away = MembershipFactory(organization=team.org, role=Role.MANAGER)
    far = team.expense(employee=MembershipFactory(organization=team.org, reports_to=also_away), submit=True)
    Delegation.objects.create(organization=team.org, delegator=also_away, delegate=lone, starts_on=today,
                              ends_on=today)
    rows, delegators = queue_and_delegators(lone)
    assert [e.pk for e in rows] == [far.pk] and delegators == [also_away]

    Delegation.objects.filter(delegate=team.manager).update(starts_on=today + dt.timedelta(days=1),
                                                            ends_on=today + dt.timedelta(days=2))
    rows, delegators = queue_and_delegators(team.manager)  # not running today: only their own
    assert [e.pk for e in rows] == [mine.pk] and delegators == []
