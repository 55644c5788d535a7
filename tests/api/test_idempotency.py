"""Idempotency-Key on commands: replay, refusal of a reused key, and a concurrent duplicate."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core.models import IdempotencyKey
from events.models import Event
from expenses import services
from expenses.models import Approval
from expenses.tests.factories import make_team


def client_for(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(member.user)
    return client


@pytest.mark.django_db
def test_a_command_repeated_with_its_key_runs_once_and_replays_the_response():
    team = make_team()
    expense = team.expense(submit=True)
    client = client_for(team.manager)
    url = f"/api/v1/expenses/{expense.pk}/approve/"

    first = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")
    second = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert Event.objects.filter(type="expense.approved").count() == 1
    third = client.post(url, {}, format="json")  # without a key it is a new command: a conflict
    assert third.status_code == 409 and third.json()["code"] == "conflict"


@pytest.mark.django_db
def test_the_same_key_with_a_different_body_is_refused_with_422():
    team = make_team()
    expense = team.expense(submit=True)
    client = client_for(team.manager)
    url = f"/api/v1/expenses/{expense.pk}/reject/"
    assert client.post(url, {"reason": "first"}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200

    response = client.post(url, {"reason": "second"}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert Event.objects.filter(type="expense.rejected").count() == 1


@pytest.mark.django_db
def test_a_refusal_is_replayed_too_and_keys_are_per_user():
    team = make_team(budget="10.00")
    expense = team.expense(amount="20.00", submit=True)
    url = f"/api/v1/expenses/{expense.pk}/approve/"
    refused = client_for(team.manager).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    again = client_for(team.manager).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert refused.status_code == again.status_code == 409
    assert again.json()["code"] == "insufficient_budget" and again.json()["details"]["remaining"] == "10.00"
    other_user = client_for(team.admin).post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert other_user.status_code == 409 and "Idempotent-Replayed" not in other_user


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_run_the_command_once():
    team = make_team()
    expense = team.expense(submit=True)
    url = f"/api/v1/expenses/{expense.pk}/approve/"
    barrier = threading.Barrier(2)
    results = []

    def call():
        client = client_for(team.manager)
        barrier.wait()
        try:
            response = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="race")
            results.append((response.status_code, response.json().get("code"), response.get("Idempotent-Replayed")))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert Event.objects.filter(type="expense.approved").count() == 1
    statuses = sorted(r[0] for r in results)
    assert statuses in ([200, 200], [200, 409]), results
    if statuses == [200, 409]:
        assert any(r[1] == "idempotency_in_progress" for r in results)
    else:
        assert any(r[2] == "true" for r in results)


@pytest.mark.django_db
def test_an_invalid_key_is_a_clear_400():
    team = make_team()
    expense = team.expense(submit=True)
    response = client_for(team.manager).post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json",
                                             HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key"
    assert not Event.objects.filter(type="expense.approved").exists()


@pytest.mark.django_db(transaction=True)
def test_the_key_commits_with_the_command_in_one_transaction():

    team = make_team()
    expense = team.expense(submit=True)
    client = client_for(team.manager)
    with CaptureQueriesContext(connection) as statements:
        response = client.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json",
                               HTTP_IDEMPOTENCY_KEY="one-commit")
    assert response.status_code == 200
    commits = [q["sql"] for q in statements.captured_queries if q["sql"].strip().upper() == "COMMIT"]
    assert len(commits) == 1, [q["sql"][:60] for q in statements.captured_queries]
    row = IdempotencyKey.objects.get(user=team.manager.user, key="one-commit")
    assert (row.status, row.response_status, row.response_body["state"]) == ("completed", 200, "approved")


@pytest.mark.django_db(transaction=True)
def test_a_command_that_fails_after_writing_leaves_neither_its_writes_nor_the_key(monkeypatch):
    team = make_team()
    expense = team.expense(submit=True)
    do_approve = services.do_approve

    def approve_then_fail(**kwargs):
        do_approve(**kwargs)  # the approval and its event are written ...
        raise RuntimeError("the process fails before the answer")  # ... then the request fails

    monkeypatch.setattr(services, "do_approve", approve_then_fail)
    client = client_for(team.manager)
    client.raise_request_exception = False
    response = client.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json", HTTP_IDEMPOTENCY_KEY="fails")
    assert response.status_code == 500
    assert not IdempotencyKey.objects.filter(key="fails").exists()
    assert not Approval.objects.filter(expense_id=expense.pk).exists()
    assert not Event.objects.filter(type="expense.approved").exists()
    monkeypatch.undo()  # the same key may now run the command: nothing of the failed request is left
    again = client.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json", HTTP_IDEMPOTENCY_KEY="fails")
    assert again.status_code == 200 and "Idempotent-Replayed" not in again
