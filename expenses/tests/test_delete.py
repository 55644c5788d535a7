"""Deleting a draft: the owner's draft only, with its event; anything else is refused unchanged."""

from __future__ import annotations

import pytest

from events.models import Event
from expenses import services
from expenses.errors import ExpenseNotFound, InvalidState, NotOwner
from expenses.models import Expense
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def test_the_owner_deletes_a_draft_and_expense_deleted_is_published(django_capture_on_commit_callbacks):
    team = make_team()
    draft = team.expense()
    name = draft.receipt.name
    storage = draft.receipt.storage

    with django_capture_on_commit_callbacks(execute=True):
        services.expense_delete(actor=team.employee, expense_id=draft.pk)

    assert not Expense.objects.filter(pk=draft.pk).exists()
    event = Event.objects.get(type="expense.deleted")
    assert event.aggregate_id == str(draft.pk) and event.actor_id == team.employee.user_id
    assert not storage.exists(name)  # the receipt file went with it, after commit


@pytest.mark.parametrize(("who", "state", "error"), [
    ("colleague", "draft", NotOwner), ("manager", "draft", NotOwner), ("employee", "submitted", InvalidState),
    ("employee", "approved", InvalidState), ("other_org", "draft", ExpenseNotFound)])
def test_delete_refuses_and_writes_nothing(who, state, error):
    team = make_team()
    expense = team.expense(submit=state != "draft")
    if state == "approved":
        services.expense_approve(actor=team.manager, expense_id=expense.pk)
    actor = make_team().employee if who == "other_org" else getattr(team, who)
    events_before = Event.objects.count()

    with pytest.raises(error):
        services.expense_delete(actor=actor, expense_id=expense.pk)

    assert Expense.objects.filter(pk=expense.pk, state=state).exists()
    assert Event.objects.count() == events_before
