"""The thread and return-with-question over the API: answers, refusals in the error shape, and
nothing written by a refused request."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from events.models import Event
from expenses.models import Comment, Expense
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def _client(member):
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def test_the_thread_and_a_return_over_the_api():
    team = make_team()
    expense = team.expense(submit=True)
    manager = _client(team.manager)

    posted = manager.post(f"/api/v1/expenses/{expense.pk}/comments/", {"body": "Which client?"}, format="json")
    returned = manager.post(f"/api/v1/expenses/{expense.pk}/return/", {"reason": "Which project?"}, format="json",
                            HTTP_IDEMPOTENCY_KEY="return-1")
    thread = _client(team.employee).get(f"/api/v1/expenses/{expense.pk}/comments/").json()

    assert posted.status_code == 201 and posted.json()["author"] == team.manager.display_name
    assert returned.status_code == 200 and returned.json()["state"] == "draft"
    assert [(c["kind"], c["body"]) for c in thread] == [("comment", "Which client?"), ("question", "Which project?")]


@pytest.mark.parametrize(("path", "body", "code"), [
    ("comments", {"body": "   "}, "invalid"), ("comments", {}, "invalid"),
    ("comments", {"body": "x" * 2001}, "invalid"),
    ("return", {"reason": ""}, "invalid"), ("return", {}, "invalid")])
def test_bad_input_is_400_in_the_error_shape_and_writes_nothing(path, body, code):
    team = make_team()
    expense = team.expense(submit=True)
    events = Event.objects.count()

    response = _client(team.manager).post(f"/api/v1/expenses/{expense.pk}/{path}/", body, format="json")

    assert response.status_code == 400 and response.json()["code"] == code
    assert set(response.json()) == {"code", "message", "details"}
    assert Comment.objects.count() == 0 and Event.objects.count() == events
    assert Expense.objects.get(pk=expense.pk).state == "submitted"
