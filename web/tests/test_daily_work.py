"""Issue 18's defects that are about data and responses rather than the browser: the finance
step's label in the API, error pages in debug mode, stable category colours, the order of my
expenses, the "paid" notice, the pending receipt and the delete endpoint."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounting import services as accounting
from events.models import Event
from expenses import queries, services
from expenses.models import Expense
from expenses.queries import SummaryRow
from expenses.tests.factories import PNG, make_team
from tests.support.deliveries import run_deliveries
from web.views.dashboard import spend_chart

pytestmark = pytest.mark.django_db


def test_the_api_says_waiting_for_finance_after_the_manager_approval():
    team = make_team(threshold="1000.00")
    expense = team.expense(amount="1500.00", submit=True)
    client = APIClient()
    client.force_authenticate(team.employee.user)
    assert client.get(f"/api/v1/expenses/{expense.pk}/").json()["awaiting"] == "manager"

    services.expense_approve(actor=team.manager, expense_id=expense.pk)

    body = client.get(f"/api/v1/expenses/{expense.pk}/").json()
    assert (body["state"], body["state_label"], body["awaiting"]) == ("submitted", "Waiting for finance", "finance")
    listed = client.get("/api/v1/expenses/").json()["results"][0]
    assert listed["state_label"] == "Waiting for finance"


@pytest.mark.parametrize("path", ["/no-such-page/", "/expenses/00000000-0000-0000-0000-000000000000/"])
def test_a_404_in_debug_mode_is_the_product_page_not_the_url_list(client, settings, path):
    settings.DEBUG = True
    team = make_team()
    client.force_login(team.employee.user)
    response = client.get(path)
    html = response.content.decode()
    assert response.status_code == 404
    assert 'id="error-page"' in html and 'aria-label="Main"' in html
    assert "URLconf" not in html


def test_an_api_404_keeps_the_error_shape_in_debug_mode(client, settings):
    settings.DEBUG = True
    team = make_team()
    client.force_login(team.employee.user)
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and set(response.json()) == {"code", "message", "details"}


def _row(category_id, name, total):
    return SummaryRow(month="2026-11", cost_center_id=1, cost_center_code="CC", category_id=category_id,
                      category_name=name, submitted_count=0, approved_count=1, rejected_count=0,
                      approved_total=Decimal(total))


def test_a_category_keeps_its_colour_whichever_other_categories_have_spend():
    team = make_team()
    budgets = [{"cost_center": type("CC", (), {"code": "CC"}), "budget": Decimal("100"), "used": Decimal("30")}]
    alone = spend_chart(budgets, [_row(9, "Travel", "30")], "en_GB")
    with_others = spend_chart(budgets, [_row(2, "Books", "10"), _row(4, "Meals", "10"), _row(9, "Travel", "10")],
                              "en_GB")
    colour = {c["name"]: c["colour"] for c in with_others["legend"]}
    assert alone["legend"] == [{"name": "Travel", "colour": colour["Travel"]}]
    assert len(set(colour.values())) == 3
    assert team  # the org exists for the query below
    usage = queries.budget_usage(team.manager, "2026-11")
    assert [str(u["used"]) for u in usage] == ["0.00"]  # a zero reads like every other amount


def test_my_expenses_are_sorted_by_date_newest_first():
    team = make_team()
    old = team.expense(days_ago=20)
    new = team.expense(days_ago=2)
    middle = team.expense(days_ago=10)
    assert list(queries.my_expenses(team.employee)) == [new, middle, old]


def test_the_paid_event_names_the_expense_for_the_notice():
    team = make_team()
    expense = team.expense(submit=True, merchant="Hotel Adlon")
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries()
    batch = accounting.payout_run(organization=team.org)
    accounting.payout_batch_confirm(actor=team.finance, batch_id=batch.pk)
    paid = Event.objects.get(type="reimbursement.paid")
    assert (paid.payload["merchant"], paid.payload["incurred_on"]) == ("Hotel Adlon", expense.incurred_on.isoformat())


def test_a_pending_receipt_belongs_to_the_session_that_uploaded_it(client):
    team = make_team()
    client.force_login(team.employee.user)
    from django.core.files.uploadedfile import SimpleUploadedFile

    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    form = {"merchant": "Kiosk", "amount": "abc", "currency": "EUR", "incurred_on": yesterday,
            "cost_center_id": team.cost_center.pk, "category_id": team.category.pk}
    response = client.post(reverse("expense-create"), {**form, "save": "1",
                                                       "receipt": SimpleUploadedFile("r.png", PNG, "image/png")})
    token = response.context["pending"]["token"]
    other = client.__class__()
    other.force_login(team.colleague.user)
    response = other.post(reverse("expense-create"), {**form, "amount": "12.00", "save": "1",
                                                      "pending_receipt": token})
    assert response.status_code == 302
    assert Expense.objects.get(employee=team.colleague).receipt.name == ""  # another session's token is nothing


def test_the_delete_endpoint_removes_a_draft_and_refuses_a_submission():
    team = make_team()
    draft, submitted = team.expense(), team.expense(submit=True)
    client = APIClient()
    client.force_authenticate(team.employee.user)

    assert client.delete(f"/api/v1/expenses/{draft.pk}/").status_code == 204
    refused = client.delete(f"/api/v1/expenses/{submitted.pk}/")

    assert refused.status_code == 409 and refused.json()["code"] == "invalid_state"
    assert not Expense.objects.filter(pk=draft.pk).exists() and Expense.objects.filter(pk=submitted.pk).exists()
    assert Event.objects.filter(type="expense.deleted").count() == 1


def test_a_berlin_dashboard_writes_amounts_and_months_the_german_way(client):
    # Here rather than in test_dashboard.py, whose every test runs at each frozen clock: the
    # locale does not depend on the date.
    from organizations.tests.factories import OrganizationFactory

    team = make_team(budget="2000.00", org=OrganizationFactory(locale="de_DE", time_zone="Europe/Berlin",
                                                               second_approval_threshold=Decimal("5000.00")))
    expense = team.expense(amount="1234.50", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries(prefix="expenses.monthly_spend")  # the read model the dashboard draws
    client.force_login(team.manager.user)

    html = client.get(reverse("dashboard")).content.decode()
    march = client.get(reverse("dashboard") + "?month=2026-03").content.decode()

    assert "1.234,50 / 2.000,00" in html and f"<title>{team.category.name}: 1.234,50</title>" in html
    assert "1234.50" not in html and "2000.00" not in html
    assert "<h1>Spend in März 2026</h1>" in march
