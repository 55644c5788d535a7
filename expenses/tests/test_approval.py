"""Approval: the threshold flow, and concurrency on real PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from core.errors import Conflict
from events.models import Event
from expenses import services
from expenses.errors import NotAnApprover
from expenses.models import Approval, Expense, ExpenseState
from expenses.tests.factories import make_team
from organizations.models import Role
from organizations.tests.factories import MembershipFactory


@pytest.mark.django_db
def test_below_threshold_one_manager_approval_publishes_approved():
    team = make_team()
    expense = team.expense(amount="200.00", submit=True)

    services.expense_approve(actor=team.manager, expense_id=expense.pk)

    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.APPROVED
    approved = Event.objects.get(type="expense.approved")
    assert approved.payload["approver_user_id"] == team.manager.user_id
    assert approved.actor_id == team.manager.user_id


@pytest.mark.django_db
def test_above_threshold_manager_records_and_finance_approves():
    team = make_team(threshold="100.00")
    expense = team.expense(amount="300.00", submit=True)
    assert Event.objects.get(type="expense.submitted").payload["needs_finance_approval"] is True

    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.SUBMITTED
    assert list(Event.objects.order_by("sequence").values_list("type", flat=True)) == [
        "expense.submitted", "expense.approval_recorded"]
    recorded = Event.objects.get(type="expense.approval_recorded")
    assert recorded.payload["step"] == "manager" and recorded.payload["remaining_steps"] == ["finance"]

    with pytest.raises(Conflict) as caught:  # the manager cannot give the second approval too
        services.expense_approve(actor=team.manager, expense_id=expense.pk)
    assert caught.value.code == "conflict"

    services.expense_approve(actor=team.finance, expense_id=expense.pk)
    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.APPROVED
    assert Event.objects.filter(type="expense.approved").count() == 1


@pytest.mark.django_db
def test_an_org_admin_may_approve_and_a_manager_outside_the_line_may_not():
    team = make_team()
    stranger = MembershipFactory(organization=team.org, role=Role.MANAGER)
    expense = team.expense(submit=True)
    with pytest.raises(NotAnApprover) as caught:
        services.expense_approve(actor=stranger, expense_id=expense.pk)
    assert caught.value.code == "not_an_approver"
    services.expense_approve(actor=team.admin, expense_id=expense.pk)


def _race(actions):
    """Run the callables at once on separate threads (each with its own connection)."""
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)

    def run(index, action):
        barrier.wait()
        try:
            action()
            results[index] = "ok"
        except Exception as exc:
            results[index] = getattr(exc, "code", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_ten_threads_approving_one_expense_one_succeeds_one_event():
    team = make_team()
    approvers = [team.manager, team.admin] + [MembershipFactory(organization=team.org, role=Role.ADMIN)
                                              for _ in range(8)]
    expense = team.expense(submit=True)

    results = _race([lambda a=a: services.expense_approve(actor=a, expense_id=expense.pk) for a in approvers])

    assert results.count("ok") == 1, results
    assert set(results) == {"ok", "conflict"}, results
    assert Event.objects.filter(type="expense.approved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_expenses_on_a_budget_that_fits_one_exactly_one_passes():
    team = make_team(budget="100.00")
    first = team.expense(amount="60.00", submit=True)
    second = team.expense(employee=team.colleague, amount="60.00", submit=True)

    results = _race([lambda: services.expense_approve(actor=team.manager, expense_id=first.pk),
                     lambda: services.expense_approve(actor=team.admin, expense_id=second.pk)])

    assert sorted(results) == ["insufficient_budget", "ok"], results
    assert Expense.objects.filter(state=ExpenseState.APPROVED).count() == 1
    assert Event.objects.filter(type="expense.approved").count() == 1


@pytest.mark.django_db
def test_the_finance_step_cannot_come_from_the_admin_who_gave_the_manager_step():
    team = make_team(threshold="100.00")
    expense = team.expense(amount="300.00", submit=True)
    services.expense_approve(actor=team.admin, expense_id=expense.pk)
    events = Event.objects.count()

    with pytest.raises(NotAnApprover) as caught:
        services.expense_approve(actor=team.admin, expense_id=expense.pk)

    assert caught.value.code == "not_an_approver"
    assert Event.objects.count() == events
    services.expense_approve(actor=team.finance, expense_id=expense.pk)
    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.APPROVED


@pytest.mark.django_db
def test_finance_may_reject_at_the_second_step_and_withdraw_drops_the_first_approval():
    team = make_team(threshold="100.00")
    rejected = team.expense(amount="300.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=rejected.pk)
    services.expense_reject(actor=team.finance, expense_id=rejected.pk, reason="Not in policy.")
    assert Expense.objects.get(pk=rejected.pk).rejection_reason == "Not in policy."

    withdrawn = team.expense(amount="300.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=withdrawn.pk)
    services.expense_withdraw(actor=team.employee, expense_id=withdrawn.pk)
    assert not Approval.objects.filter(expense=withdrawn).exists()


@pytest.mark.django_db
def test_an_approval_without_a_member_is_recorded_under_its_actor_label():
    # The extension point for a later policy approval: same checks, same writes, same events.
    team = make_team()
    expense = team.expense(amount="20.00", submit=True)
    with transaction.atomic():
        locked = Expense.objects.select_for_update().get(pk=expense.pk)
        step, remaining, _ = services.check_approvable(locked)
        left = services.check_budget(locked)
        services.do_approve(expense=locked, approver=None, actor_label="policy",
                            decision=services.ApprovalDecision(step=step, remaining_steps=remaining,
                                                               remaining_budget=left))

    approval = Approval.objects.get(expense=expense)
    assert (approval.approver, approval.approver_name) == (None, "policy")
    event = Event.objects.get(type="expense.approved")
    assert (event.actor_id, event.actor_label, event.payload["approver_user_id"]) == (None, "policy", None)
    with pytest.raises(ValueError):
        services.do_approve(expense=locked, approver=None, decision=services.ApprovalDecision(
            step="finance", remaining_steps=[], remaining_budget=left))
