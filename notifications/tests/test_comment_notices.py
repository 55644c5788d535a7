"""Comments and returned expenses reach the right people (the author never hears of their own)."""

from __future__ import annotations

import pytest

from expenses import comments
from expenses.tests.factories import make_team
from notifications.models import Kind, Notification
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


def test_each_participant_but_the_author_hears_of_a_comment():
    team = make_team()
    expense = team.expense(submit=True)
    comments.comment_add(actor=team.manager, expense_id=expense.pk, body="Which client?")
    comments.comment_add(actor=team.employee, expense_id=expense.pk, body="ACME")
    run_deliveries()

    heard = sorted(Notification.objects.filter(kind=Kind.EXPENSE_COMMENTED).values_list("recipient_id", "title"))
    assert heard == sorted([(team.employee.user_id, f"{team.manager.display_name} wrote about 40.00 EUR at Café"),
                            (team.manager.user_id, f"{team.employee.display_name} wrote about 40.00 EUR at Café")])


def test_the_employee_hears_the_question_their_expense_was_returned_with():
    team = make_team()
    expense = team.expense(submit=True)
    comments.expense_return(actor=team.manager, expense_id=expense.pk, reason="Which project?")
    run_deliveries()
    notice = Notification.objects.get(kind=Kind.EXPENSE_RETURNED)
    assert notice.recipient_id == team.employee.user_id and "Which project?" in notice.body
