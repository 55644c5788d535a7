"""Every page renders for the roles that may open it, refuses the others, and never shows
another organisation's objects (404)."""

from __future__ import annotations

import pytest
from django.urls import reverse

PAGES = [
    # (url name, kwargs key, roles allowed)
    ("expense-list", None, {"employee", "manager", "finance", "admin"}),
    ("expense-create", None, {"employee", "manager", "finance", "admin"}),
    ("approval-queue", None, {"manager", "finance", "admin"}),
    ("dashboard", None, {"manager", "finance", "admin"}),
    ("reimbursement-list", None, {"employee", "manager", "finance", "admin"}),
    ("batch-list", None, {"finance", "admin"}),
    ("trial-balance", None, {"finance", "admin"}),
    ("operations", None, {"admin"}),
    ("event-catalogue", None, {"employee", "manager", "finance", "admin"}),
    ("notification-list", None, {"employee", "manager", "finance", "admin"}),
    ("policy", None, {"employee", "manager", "finance", "admin"}),
    ("delegation", None, {"employee", "manager", "finance", "admin"}),
    ("expense-detail", "submitted", {"employee", "manager", "finance", "admin"}),
    ("expense-status", "submitted", {"employee", "manager", "finance", "admin"}),
    ("expense-timeline", "submitted", {"employee", "manager", "finance", "admin"}),
    ("batch-file", "batch", {"finance", "admin"}),
    ("account-ledger", "account", {"finance", "admin"}),
]
KWARG = {"submitted": "expense_id", "batch": "batch_id", "account": "account_id"}


@pytest.fixture
def scenarios(committed_scenarios):
    return committed_scenarios


def _url(name, key, scenario):
    if key is None:
        return reverse(name)
    value = {"submitted": scenario.submitted.pk, "batch": scenario.batch.pk, "account": scenario.account.pk}[key]
    return reverse(name, kwargs={KWARG[key]: value})


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "key", "allowed"), PAGES, ids=[p[0] for p in PAGES])
@pytest.mark.parametrize("role", ["employee", "manager", "finance", "admin", "anonymous"])
def test_page_access(client, scenarios, name, key, allowed, role):
    mine, theirs = scenarios
    if role != "anonymous":
        client.force_login(mine.member(role).user)
    response = client.get(_url(name, key, mine))
    if role == "anonymous":
        assert response.status_code == 302 and "/login/" in response["Location"]
        return
    assert response.status_code == (200 if role in allowed else 403), response.content[:300]
    if key is not None and role in allowed:
        assert client.get(_url(name, key, theirs)).status_code == 404


@pytest.mark.django_db
def test_state_changing_pages_refuse_get_and_need_csrf(scenarios):
    from django.test import Client

    mine, _ = scenarios
    client = Client(enforce_csrf_checks=True)
    client.force_login(mine.team.manager.user)
    url = reverse("expense-approve", kwargs={"expense_id": mine.submitted.pk})
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
