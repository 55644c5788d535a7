"""Idempotency-Key on commands: replay, refusal of a reused key, and a concurrent duplicate."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from events.models import Event
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
