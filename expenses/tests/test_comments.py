"""Questions and comments, and returning an expense with a question: who may, what is written
and published, and that a refusal writes nothing."""

from __future__ import annotations

import pytest

from events.models import Event
from expenses import comments, services
from expenses.errors import ConcurrentChange, ExpenseNotFound, InvalidField, InvalidState, NotAnApprover, OwnExpense
from expenses.models import Approval, Comment, Expense, MonthlySpend
from expenses.tests.factories import make_team
from organizations.models import Role
from organizations.tests.factories import MembershipFactory
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


def snapshot():
    return (Comment.objects.count(), Event.objects.count(), Approval.objects.count(),
            sorted(Expense.objects.values_list("pk", "state", "version")))


def test_a_comment_is_written_and_published_for_the_others():
    team = make_team()
    expense = team.expense(submit=True)

    comments.comment_add(actor=team.manager, expense_id=expense.pk, body="  Which client was this for? ")
    comments.comment_add(actor=team.employee, expense_id=expense.pk, body="ACME, the kick-off")

    assert [(c.author_id, c.body) for c in Comment.objects.all()] == [
        (team.manager.pk, "Which client was this for?"), (team.employee.pk, "ACME, the kick-off")]
    answer = Event.objects.filter(type="expense.commented").order_by("sequence").last()
    assert team.employee.user_id not in answer.payload["participant_user_ids"]
    assert team.manager.user_id in answer.payload["participant_user_ids"]


@pytest.mark.parametrize(("body", "who", "error"), [
    ("", "manager", InvalidField), ("x" * 2001, "manager", InvalidField), (None, "manager", InvalidField),
    ("Hello", "stranger", ExpenseNotFound), ("Hello", "other_org", ExpenseNotFound)])
def test_a_refused_comment_writes_nothing(body, who, error):
    team = make_team()
    expense = team.expense(submit=True)
    actor = {"manager": team.manager, "stranger": MembershipFactory(organization=team.org, role=Role.MANAGER),
             "other_org": make_team().admin}[who]
    before = snapshot()
    with pytest.raises(error):
        comments.comment_add(actor=actor, expense_id=expense.pk, body=body)
    assert snapshot() == before


def test_return_sends_it_back_as_a_draft_with_the_question_and_the_employee_resubmits():
    team = make_team(threshold="30.00")
    expense = team.expense(amount="40.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)  # finance is next

    comments.expense_return(actor=team.finance, expense_id=expense.pk, reason="Which project?")
    run_deliveries()

    expense.refresh_from_db()
    assert (expense.state, expense.submitted_at, expense.approvals.count()) == ("draft", None, 0)
    assert Comment.objects.get().kind == "question"
    returned = Event.objects.get(type="expense.returned")
    assert returned.payload["question"] == "Which project?" and returned.actor_id == team.finance.user_id
    assert MonthlySpend.objects.get().submitted_count == 0  # no longer waiting

    services.expense_submit(actor=team.employee, expense_id=expense.pk, confirm_not_duplicate=True)
    assert Expense.objects.get(pk=expense.pk).state == "submitted"


@pytest.mark.parametrize(("who", "state", "reason", "error"), [
    ("manager", "submitted", "  ", InvalidField), ("employee", "submitted", "Why?", OwnExpense),
    ("colleague", "submitted", "Why?", NotAnApprover), ("manager", "draft", "Why?", InvalidState),
    ("manager", "rejected", "Why?", ConcurrentChange), ("other_org", "submitted", "Why?", ExpenseNotFound)])
def test_a_refused_return_writes_nothing(who, state, reason, error):
    team = make_team()
    expense = team.expense(submit=state != "draft")
    if state == "rejected":
        services.expense_reject(actor=team.manager, expense_id=expense.pk, reason="no")
    actor = make_team().manager if who == "other_org" else getattr(team, who)
    before = snapshot()
    with pytest.raises(error):
        comments.expense_return(actor=actor, expense_id=expense.pk, reason=reason)
    assert snapshot() == before
