"""POST /api/v1/expenses/bulk-approve/ and bulk-reject/: one result per id, the error shape for
bad input (nothing decided), and the Idempotency-Key honoured."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from events.models import Event
from expenses.models import Expense
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def _client(member):
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def test_bulk_approve_answers_one_result_per_id_and_a_replay_runs_nothing_again():
    team = make_team(budget="100.00")
    ok = team.expense(amount="60.00", submit=True)
    refused = team.expense(employee=team.colleague, amount="60.00", submit=True)
    client = _client(team.manager)
    body = {"ids": [str(ok.pk), str(refused.pk)]}

    first = client.post("/api/v1/expenses/bulk-approve/", body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1")
    events = Event.objects.count()
    again = client.post("/api/v1/expenses/bulk-approve/", body, format="json", HTTP_IDEMPOTENCY_KEY="bulk-1")

    assert first.status_code == 200 and again.status_code == 200
    assert first.json() == again.json()
    assert [(r["id"], r["ok"], r["code"]) for r in first.json()["results"]] == [
        (str(ok.pk), True, ""), (str(refused.pk), False, "insufficient_budget")]
    assert Event.objects.count() == events  # the replay decided nothing
    assert client.post("/api/v1/expenses/bulk-approve/", {"ids": [str(ok.pk)]}, format="json",
                       HTTP_IDEMPOTENCY_KEY="bulk-1").status_code == 422  # same key, another body


@pytest.mark.parametrize(("path", "body"), [
    ("bulk-approve", {"ids": []}), ("bulk-approve", {"ids": ["nope"]}), ("bulk-approve", {}),
    ("bulk-reject", {"ids": ["{id}"], "reason": ""}), ("bulk-reject", {"ids": ["{id}"]})])
def test_bad_bulk_input_is_400_in_the_error_shape_and_decides_nothing(path, body):
    team = make_team()
    expense = team.expense(submit=True)
    body = {k: ([str(expense.pk)] if v == ["{id}"] else v) for k, v in body.items()}
    events = Event.objects.count()

    response = _client(team.manager).post(f"/api/v1/expenses/{path}/", body, format="json")

    assert response.status_code == 400 and set(response.json()) == {"code", "message", "details"}
    assert Event.objects.count() == events and Expense.objects.get(pk=expense.pk).state == "submitted"


def test_an_employee_may_not_decide_in_bulk():
    team = make_team()
    expense = team.expense(employee=team.colleague, submit=True)
    response = _client(team.employee).post("/api/v1/expenses/bulk-reject/", {"ids": [str(expense.pk)],
                                                                             "reason": "no"}, format="json")
    assert response.status_code == 403 and Expense.objects.get(pk=expense.pk).state == "submitted"
