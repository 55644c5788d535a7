"""Delegation: a manager's stand-in approves on their behalf while the delegation runs, never
their own expenses; the approval, its event and the audit trail say "X on behalf of Y"."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import DomainError
from events.models import Event
from expenses import delegation, queries, services
from expenses.models import Approval, Delegation, ExpenseState
from expenses.tests.factories import make_team
from organizations.models import Role
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def days(team, n: int) -> dt.date:
    """``n`` days from the organisation's today."""
    return team.org.today() + dt.timedelta(days=n)


def delegate_to(team, member, *, start=None, end=None):
    return delegation.delegation_create(actor=team.manager, delegate_id=member.pk, starts_on=start,
                                        ends_on=end or days(team, 7))


def test_a_delegate_approves_on_behalf_of_the_manager():
    team = make_team()
    expense = team.expense(submit=True)
    delegate_to(team, team.colleague)  # an employee of the same team stands in

    approved = services.expense_approve(actor=team.colleague, expense_id=expense.pk)

    assert approved.state == ExpenseState.APPROVED
    approval = Approval.objects.get(expense=expense)
    assert (approval.approver_id, approval.on_behalf_of_id) == (team.colleague.pk, team.manager.pk)
    assert approval.approver_name == f"{team.colleague.display_name} on behalf of {team.manager.display_name}"
    event = Event.objects.get(type="expense.approved", aggregate_id=str(expense.pk))
    assert event.actor_id == team.colleague.user_id
    assert (event.payload["on_behalf_of_user_id"], event.payload["on_behalf_of_name"]) == (
        team.manager.user_id, team.manager.display_name)


def test_the_delegate_sees_the_managers_queue_and_the_submission_is_announced_to_them():
    team = make_team()
    delegate_to(team, team.colleague)
    expense = team.expense(submit=True)

    assert [e.pk for e in queries.awaiting_my_approval(team.colleague)] == [expense.pk]
    assert queries.expense_detail(team.colleague, expense.pk).pk == expense.pk
    submitted = Event.objects.get(type="expense.submitted", aggregate_id=str(expense.pk))
    assert team.colleague.user_id in submitted.payload["approver_user_ids"]


def test_a_delegate_never_approves_their_own_expense():
    team = make_team()
    own = team.expense(employee=team.colleague, submit=True)
    delegate_to(team, team.colleague)

    with pytest.raises(DomainError) as refused:
        services.expense_approve(actor=team.colleague, expense_id=own.pk)
    assert refused.value.code == "own_expense"
    assert own.pk not in [e.pk for e in queries.awaiting_my_approval(team.colleague)]
    assert not Approval.objects.filter(expense=own).exists()
    assert not Event.objects.filter(type="expense.approved").exists()


@pytest.mark.clock
def test_a_delegation_that_has_not_started_or_has_run_out_gives_no_right():
    team = make_team()
    expense = team.expense(submit=True)
    future = delegate_to(team, team.colleague, start=days(team, 1), end=days(team, 3))

    # not yet
    with pytest.raises(DomainError) as refused:
        services.expense_approve(actor=team.colleague, expense_id=expense.pk)
    assert refused.value.code == "not_an_approver"
    assert queries.awaiting_my_approval(team.colleague).count() == 0
    # on its first day (the clock moved: the dates are shifted back instead)
    Delegation.objects.filter(pk=future.pk).update(starts_on=days(team, 0), ends_on=days(team, 0))
    assert [e.pk for e in queries.awaiting_my_approval(team.colleague)] == [expense.pk]
    # the day after its last day
    Delegation.objects.filter(pk=future.pk).update(starts_on=days(team, -3), ends_on=days(team, -1))
    with pytest.raises(DomainError) as refused:
        services.expense_approve(actor=team.colleague, expense_id=expense.pk)
    assert refused.value.code == "not_an_approver"
    assert Approval.objects.count() == 0


def test_ending_a_delegation_early_takes_the_right_away_and_is_published():
    team = make_team()
    expense = team.expense(submit=True)
    running = delegate_to(team, team.colleague)
    delegation.delegation_end(actor=team.manager, delegation_id=running.pk)

    with pytest.raises(DomainError):
        services.expense_approve(actor=team.colleague, expense_id=expense.pk)
    assert list(Event.objects.filter(aggregate_type="delegation").order_by("occurred_at")
                .values_list("type", flat=True)) == ["delegation.granted", "delegation.ended"]
    with pytest.raises(DomainError) as refused:
        delegation.delegation_end(actor=team.manager, delegation_id=running.pk)
    assert refused.value.code == "invalid_state"


def test_naming_a_new_delegate_replaces_the_current_one():
    team = make_team()
    first = delegate_to(team, team.colleague)
    second = delegate_to(team, team.finance)
    first.refresh_from_db()
    assert first.ended_at is not None and second.ended_at is None
    assert delegation.current_delegation(team.manager) == second
    assert delegation.active_delegators(team.colleague) == []


def test_a_delegate_may_reject_on_behalf_of_the_manager():
    team = make_team()
    expense = team.expense(submit=True)
    delegate_to(team, team.colleague)
    services.expense_reject(actor=team.colleague, expense_id=expense.pk, reason="No receipt detail")
    payload = Event.objects.get(type="expense.rejected").payload
    assert (payload["rejected_by_user_id"], payload["on_behalf_of_user_id"]) == (team.colleague.user_id,
                                                                                 team.manager.user_id)


def test_a_delegate_gives_the_manager_step_of_a_two_step_expense_and_finance_the_second():
    team = make_team(threshold="10.00")
    expense = team.expense(amount="50.00", submit=True)
    delegate_to(team, team.colleague)
    services.expense_approve(actor=team.colleague, expense_id=expense.pk)
    assert services.expense_approve(actor=team.finance, expense_id=expense.pk).state == ExpenseState.APPROVED


@pytest.mark.parametrize(("who", "start", "end", "code"), [
    ("self", None, 3, "invalid_delegation"),
    ("colleague", -1, 3, "invalid_delegation"),
    ("colleague", 5, 3, "invalid_delegation"),
    ("colleague", None, 400, "invalid_delegation"),
    ("foreign", None, 3, "invalid"),
    ("nobody", None, 3, "invalid"),
])
def test_an_invalid_delegation_is_refused_and_writes_nothing(who, start, end, code):
    team = make_team()
    delegate = {"self": team.manager, "colleague": team.colleague,
                "foreign": MembershipFactory(), "nobody": None}[who]
    with pytest.raises(DomainError) as refused:
        delegation.delegation_create(actor=team.manager, delegate_id=delegate.pk if delegate else 999999,
                                     starts_on=None if start is None else days(team, start), ends_on=days(team, end))
    assert refused.value.code == code
    assert not Delegation.objects.exists() and not Event.objects.exists()


def test_only_a_manager_names_a_delegate_and_only_their_own_delegation_is_theirs_to_end():
    team = make_team()
    with pytest.raises(DomainError) as refused:
        delegation.delegation_create(actor=team.employee, delegate_id=team.colleague.pk, ends_on=days(team, 3))
    assert refused.value.code == "not_an_approver"
    running = delegate_to(team, team.colleague)
    other_manager = MembershipFactory(organization=team.org, role=Role.MANAGER)
    with pytest.raises(DomainError) as refused:
        delegation.delegation_end(actor=other_manager, delegation_id=running.pk)
    assert refused.value.code == "not_found"
    foreign_admin = MembershipFactory(role=Role.ADMIN)
    with pytest.raises(DomainError):
        delegation.delegation_end(actor=foreign_admin, delegation_id=running.pk)
    delegation.delegation_end(actor=team.admin, delegation_id=running.pk)  # the organisation's admin may
