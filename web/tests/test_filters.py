"""Search, filters and sorting: the pages and the API answer the same query string the same way."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_with_expenses():
    team = make_team()
    taxi = team.expense(merchant="Taxi Berlin", amount="30.00", submit=True)
    team.expense(merchant="Taxi Hamburg", amount="12.00", days_ago=3)
    big_taxi = team.expense(merchant="Airport taxi", amount="80.00", submit=True, days_ago=5)
    team.expense(merchant="Hotel", amount="90.00", submit=True, days_ago=2)
    return team, taxi, big_taxi


QUERY = "?q=taxi&state=submitted&amount_min=20&sort=-amount"


def test_my_expenses_filter_and_sort_by_the_query_string(client, team_with_expenses):
    team, _taxi, _big_taxi = team_with_expenses
    client.force_login(team.employee.user)
    response = client.get(f"/expenses/{QUERY}")
    assert [e.merchant for e in response.context["expenses"]] == ["Airport taxi", "Taxi Berlin"]


def test_the_api_takes_the_same_filters(team_with_expenses):
    team, taxi, big_taxi = team_with_expenses
    client = APIClient()
    client.force_authenticate(team.employee.user)
    body = client.get(f"/api/v1/expenses/{QUERY}").json()
    assert {e["id"] for e in body["results"]} == {str(taxi.pk), str(big_taxi.pk)}
    client.force_authenticate(team.manager.user)
    queue = client.get("/api/v1/expenses/awaiting-approval/?q=taxi&amount_max=50").json()
    assert [e["id"] for e in queue] == [str(taxi.pk)]


def test_the_queue_filters_by_employee_and_keeps_oldest_first(client, team_with_expenses):
    team, taxi, big_taxi = team_with_expenses
    mine = team.expense(employee=team.colleague, merchant="Taxi Köln", amount="25.00", submit=True)
    client.force_login(team.manager.user)
    everyone = client.get("/approvals/?q=taxi").context["expenses"]
    assert [e.pk for e in everyone] == [taxi.pk, big_taxi.pk, mine.pk]  # submitted order
    only = client.get(f"/approvals/?employee={team.colleague.pk}").context["expenses"]
    assert [e.pk for e in only] == [mine.pk]


def test_a_bad_filter_value_is_shown_at_its_field_and_never_a_500(client, team_with_expenses):
    team, _, _ = team_with_expenses
    client.force_login(team.employee.user)
    response = client.get("/expenses/?amount_min=abc&incurred_from=never&sort=nonsense")
    assert response.status_code == 200
    assert response.context["filter"].errors.keys() == {"amount_min", "incurred_from"}
    api = APIClient()
    api.force_authenticate(team.employee.user)
    refused = api.get("/api/v1/expenses/?amount_min=abc")
    assert refused.status_code == 400 and set(refused.json()) == {"code", "message", "details"}


def test_reimbursements_filter_by_state_and_payee(client):
    from accounting import services as accounting
    from expenses import services
    from tests.api.scenario import deliver_all

    team = make_team()
    for employee in (team.employee, team.colleague):
        expense = team.expense(employee=employee, submit=True)
        services.expense_approve(actor=team.manager, expense_id=expense.pk)
    deliver_all()
    accounting.payout_run(organization=team.org)
    client.force_login(team.finance.user)
    rows = client.get(f"/finance/reimbursements/?q={team.colleague.display_name}&state=in_batch").context["items"]
    assert [r.payee_name for r in rows] == [team.colleague.display_name]
    api = APIClient()
    api.force_authenticate(team.finance.user)
    assert len(api.get("/api/v1/reimbursements/?state=queued").json()["results"]) == 0
