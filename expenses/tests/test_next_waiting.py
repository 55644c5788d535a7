"""``queries.next_waiting`` (the status box's "next in queue", a fixed statement) is the ORM's
rule it replaced: of ``awaiting_my_approval`` without the expense at hand, the first submitted
after it, else the oldest. Every approver of ``test_approval_queue``'s world (every role, a
manager two levels up, delegations to an employee, a manager and finance, approvals already
given), every expense of it as the one at hand, a draft (never submitted) among them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Case, Value, When
from django.test.utils import CaptureQueriesContext

from expenses.queries import awaiting_my_approval, next_waiting
from expenses.tests.test_approval_queue import _world

pytestmark = pytest.mark.django_db


def _by_the_orm(membership, expense):
    waiting = awaiting_my_approval(membership, with_budget=False).exclude(pk=expense.pk)
    if expense.submitted_at is None:
        return waiting.order_by("submitted_at", "pk").first()
    later_first = Case(When(submitted_at__gt=expense.submitted_at, then=Value(0)), default=Value(1))
    return waiting.alias(wrapped=later_first).order_by("wrapped", "submitted_at", "pk").first()


def test_the_next_expense_is_the_orms_for_every_approver_and_expense():
    _, viewers, expenses = _world()
    found = set()
    for viewer in viewers:
        for expense in expenses:
            ours, theirs = next_waiting(viewer, expense), _by_the_orm(viewer, expense)
            assert (ours and ours.pk) == (theirs and theirs.pk), (viewer, expense.state, expense.submitted_at)
            if ours is not None:
                found.add(ours.pk)
                assert ours.employee.display_name and ours.cost_center.code  # loaded with it
    assert len(found) > 2  # the matrix finds several, and none for some


def test_it_is_the_delegation_probe_and_one_statement():
    team, _, expenses = _world()
    with CaptureQueriesContext(connection) as read:
        next_waiting(team.admin, expenses[0])
    assert len(read) == 2  # the delegation probe and the statement
