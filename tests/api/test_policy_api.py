"""The policy, duplicate warning, delegation and digest preference over HTTP: the same commands
as the pages, the one error shape, and nothing written on a refusal."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from events.models import Event
from expenses.models import Expense
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def client_for(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def new_expense(team, amount="40.00"):
    return {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": amount,
            "merchant": "Kiosk", "incurred_on": (team.org.today() - dt.timedelta(days=1)).isoformat()}


def test_a_possible_duplicate_is_a_409_naming_the_twin_then_confirmed():
    team = make_team(budget="100000.00")
    employee = client_for(team.employee)
    first = employee.post("/api/v1/expenses/", new_expense(team, "9.00"), format="json").json()["id"]
    assert employee.post(f"/api/v1/expenses/{first}/submit/", {}, format="json").status_code == 200
    twin = employee.post("/api/v1/expenses/", new_expense(team, "9.00"), format="json").json()["id"]
    events = Event.objects.count()

    refused = employee.post(f"/api/v1/expenses/{twin}/submit/", {}, format="json")

    assert refused.status_code == 409
    body = refused.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == "possible_duplicate"
    assert [t["id"] for t in body["details"]["twins"]] == [first]
    assert Event.objects.count() == events and Expense.objects.get(pk=twin).state == "draft"

    confirmed = employee.post(f"/api/v1/expenses/{twin}/submit/", {"confirm_not_duplicate": True}, format="json")
    assert confirmed.status_code == 200
    out = confirmed.json()
    assert out["state"] == "submitted" and out["duplicate_confirmed_at"]
    assert out["flags"][0]["code"] == "possible_duplicate" and out["flags"][0]["twin_id"] == first


def test_rules_and_automatic_approval_are_set_by_the_admin_and_applied_on_submit():
    team = make_team(budget="100000.00")
    team.org.receipt_required_threshold = 1000  # no receipts in this test: only the category rule speaks
    team.org.save()
    admin, employee = client_for(team.admin), client_for(team.employee)
    rule = admin.put(f"/api/v1/policy/category-rules/{team.category.pk}/", {"max_amount": "100.00"}, format="json")
    assert rule.status_code == 200 and rule.json()["on_violation"] == "block"
    changed = admin.patch("/api/v1/policy/", {"auto_approve_under": "20.00", "auto_approve_sample_percent": 0},
                          format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2

    too_big = employee.post("/api/v1/expenses/", new_expense(team, "150.00"), format="json").json()["id"]
    refused = employee.post(f"/api/v1/expenses/{too_big}/submit/", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "category_amount_exceeded")

    small = employee.post("/api/v1/expenses/", new_expense(team, "15.00"), format="json").json()["id"]
    approved = employee.post(f"/api/v1/expenses/{small}/submit/", {}, format="json").json()
    assert (approved["state"], approved["policy_outcome"]) == ("approved", "auto_approved")
    assert approved["policy_version"] == 2
    assert approved["approvals"][0]["approver"] == "policy"

    versions = employee.get("/api/v1/policy/versions/").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]
    assert client_for(team.employee).get("/api/v1/policy/").json()["category_rules"][0]["max_amount"] == "100.00"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"max_amount": "-5"}, 400, "invalid"),
    ({"max_age_days": 99999}, 400, "invalid"),
    ({"on_violation": "shout", "max_amount": "5"}, 400, "invalid"),
    ({}, 400, "invalid"),
])
def test_a_bad_rule_is_refused_in_the_one_shape_and_changes_nothing(body, status, code):
    team = make_team()
    response = client_for(team.admin).put(f"/api/v1/policy/category-rules/{team.category.pk}/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Event.objects.exists()


def test_a_delegate_approves_over_the_api_and_the_approval_says_on_whose_behalf():
    team = make_team()
    expense = team.expense(submit=True)
    named = client_for(team.manager).post("/api/v1/delegations/", {
        "delegate_id": team.colleague.pk, "ends_on": (team.org.today() + dt.timedelta(days=3)).isoformat()},
        format="json")
    assert named.status_code == 201 and named.json()["is_running"] is True

    delegate = client_for(team.colleague)
    assert [e["id"] for e in delegate.get("/api/v1/expenses/awaiting-approval/").json()] == [str(expense.pk)]
    approved = delegate.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json").json()
    assert approved["state"] == "approved"
    assert approved["approvals"][0]["on_behalf_of"] == team.manager.display_name
    assert approved["approvals"][0]["approver"].endswith(f"on behalf of {team.manager.display_name}")

    ended = client_for(team.manager).post(f"/api/v1/delegations/{named.json()['id']}/end/", format="json")
    assert ended.status_code == 200 and ended.json()["is_running"] is False
    assert delegate.get("/api/v1/expenses/awaiting-approval/").status_code == 403


def test_digest_preference_over_the_api():
    team = make_team()
    manager = client_for(team.manager)
    response = manager.put("/api/v1/notifications/preferences/expense_submitted/",
                           {"in_app": True, "email": True, "digest": True}, format="json")
    assert response.status_code == 200 and response.json()["digest"] is True
    rows = {row["kind"]: row for row in manager.get("/api/v1/notifications/preferences/").json()}
    assert rows["expense_submitted"]["digest"] is True and rows["expense_approved"]["can_digest"] is False
    refused = manager.put("/api/v1/notifications/preferences/expense_approved/",
                          {"in_app": True, "email": True, "digest": True}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")
    unknown = manager.put("/api/v1/notifications/preferences/nope/", {"in_app": True, "email": True}, format="json")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
