"""Bulk decisions: each expense through the one command with its own result; bad input refuses
the whole request and writes nothing."""

from __future__ import annotations

import uuid

import pytest

from events.models import Event
from expenses import bulk
from expenses.errors import InvalidField, ReasonRequired
from expenses.models import Approval, Expense
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def test_bulk_approve_gives_each_its_own_result_and_one_refusal_undoes_nothing():
    team = make_team(budget="100.00")
    first = team.expense(amount="40.00", submit=True)
    too_much = team.expense(employee=team.colleague, amount="70.00", submit=True)
    third = team.expense(amount="50.00", submit=True)

    results = bulk.expense_bulk_approve(actor=team.manager, ids=[str(first.pk), str(too_much.pk), str(third.pk)])

    assert [(r.id, r.ok, r.code) for r in results] == [
        (str(first.pk), True, ""), (str(too_much.pk), False, "insufficient_budget"), (str(third.pk), True, "")]
    assert "Insufficient budget" in results[1].message
    states = dict(Expense.objects.values_list("pk", "state"))
    assert (states[first.pk], states[too_much.pk], states[third.pk]) == ("approved", "submitted", "approved")
    assert Event.objects.filter(type="expense.approved").count() == 2


def test_bulk_reject_uses_the_one_reason_and_reports_what_it_may_not_decide():
    team = make_team()
    mine = team.expense(submit=True)
    own = team.expense(employee=team.manager, submit=True)  # the manager's own: refused, unchanged

    results = bulk.expense_bulk_reject(actor=team.manager, ids=[mine.pk, own.pk, uuid.uuid4()], reason="No receipt")

    assert [(r.ok, r.code) for r in results] == [(True, ""), (False, "own_expense"), (False, "not_found")]
    mine.refresh_from_db()
    own.refresh_from_db()
    assert (mine.state, mine.rejection_reason, own.state) == ("rejected", "No receipt", "submitted")


@pytest.mark.parametrize(("ids", "reason", "error"), [
    ([], None, InvalidField), ("not a list", None, InvalidField), (["nope"], None, InvalidField),
    ([str(uuid.uuid4())] * 101, None, InvalidField), ("ok", "", ReasonRequired), ("ok", "x" * 2001, InvalidField)])
def test_bad_bulk_input_refuses_the_whole_request_and_writes_nothing(ids, reason, error):
    team = make_team()
    expense = team.expense(submit=True)
    if ids == "ok":
        ids = [str(expense.pk)]
    events = Event.objects.count()

    with pytest.raises(error):
        if reason is None:
            bulk.expense_bulk_approve(actor=team.manager, ids=ids)
        else:
            bulk.expense_bulk_reject(actor=team.manager, ids=ids, reason=reason)

    assert Event.objects.count() == events and Approval.objects.count() == 0
    assert Expense.objects.get(pk=expense.pk).state == "submitted"
