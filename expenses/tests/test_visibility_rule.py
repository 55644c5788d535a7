"""Who may open one expense (``expense_detail``: the page, its status fragment, the API and the
live socket) asks the rule of the one row read by id; every list asks it as a filter
(``visible_expenses``). The two must agree for every viewer and expense: here every role, a
manager two levels up, another team's manager, delegations to managers, finance and an admin,
and every state, against the filter's answer."""

from __future__ import annotations

import pytest

from expenses.models import Delegation, ExpenseState
from expenses.queries import expense_detail, visible_expenses
from expenses.tests.factories import ExpenseFactory, make_team
from organizations.models import Role
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _opens(viewer, expense) -> bool:
    from expenses.errors import ExpenseNotFound

    try:
        return expense_detail(viewer, expense.pk).pk == expense.pk
    except ExpenseNotFound:
        return False


def test_opening_one_expense_agrees_with_the_lists_rule_for_every_viewer_and_state():
    team = make_team()
    org = team.org
    director = MembershipFactory(organization=org, role=Role.MANAGER)
    team.manager.reports_to = director
    team.manager.save(update_fields=["reports_to"])
    other_manager = MembershipFactory(organization=org, role=Role.MANAGER)
    outsider = MembershipFactory(organization=org, reports_to=other_manager)
    stand_ins = {role: MembershipFactory(organization=org, role=Role.EMPLOYEE) for role in
                 (Role.MANAGER, Role.FINANCE, Role.ADMIN)}
    today = org.today()
    for role, delegate in stand_ins.items():
        delegator = {Role.MANAGER: team.manager, Role.FINANCE: team.finance, Role.ADMIN: team.admin}[role]
        Delegation.objects.create(organization=org, delegator=delegator, delegate=delegate,
                                  starts_on=today, ends_on=today)
    managing_stand_in = other_manager  # a manager who also stands in for another manager
    Delegation.objects.create(organization=org, delegator=director, delegate=managing_stand_in,
                              starts_on=today, ends_on=today)
    viewers = [team.employee, team.colleague, team.manager, director, other_manager, outsider,
               team.finance, team.admin, *stand_ins.values()]
    owners = [team.employee, team.manager, outsider, team.finance]
    expenses = [ExpenseFactory(organization=org, employee=owner, cost_center=team.cost_center,
                               category=team.category, state=state)
                for owner in owners for state in ExpenseState.values]

    seen = 0
    for viewer in viewers:
        listed = set(visible_expenses(viewer).values_list("pk", flat=True))
        for expense in expenses:
            assert _opens(viewer, expense) is (expense.pk in listed), (viewer, expense.employee, expense.state)
            seen += expense.pk in listed
    assert 0 < seen < len(viewers) * len(expenses)  # the matrix holds both answers


def test_another_organisations_expense_and_a_malformed_id_are_not_found():
    from expenses.errors import ExpenseNotFound

    ours, theirs = make_team(), make_team()
    expense = ExpenseFactory(organization=theirs.org, employee=theirs.employee, cost_center=theirs.cost_center,
                             category=theirs.category, state=ExpenseState.SUBMITTED)
    for viewer in (ours.admin, ours.manager, ours.finance):
        for wanted in (expense.pk, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            with pytest.raises(ExpenseNotFound):
                expense_detail(viewer, wanted)
