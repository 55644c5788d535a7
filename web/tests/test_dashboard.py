"""The dashboard draws the month's approved spend from the read model: one bar per cost centre,
stacked by category, on a track as long as its budget."""

from __future__ import annotations

import pytest
from django.urls import reverse

from expenses import services
from expenses.tests.factories import make_team
from organizations.tests.factories import CategoryFactory
from tests.support.deliveries import run_deliveries

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_dashboard_stacks_approved_spend_by_category_from_the_read_model(client):
    team = make_team(budget="1000.00")
    hotel = CategoryFactory(organization=team.org, name="Lodging")
    for amount, category in (("120.00", team.category), ("300.00", hotel), ("80.00", hotel)):
        expense = team.expense(amount=amount, category_id=category.pk, submit=True)
        services.expense_approve(actor=team.manager, expense_id=expense.pk)
    team.expense(amount="999.00", submit=True)  # waiting: counted, not drawn
    client.force_login(team.manager.user)

    before = client.get(reverse("dashboard")).content.decode()
    run_deliveries()  # the read model is updated by its subscriber, after commit
    html = client.get(reverse("dashboard")).content.decode()

    assert "500.00 / 1,000.00" not in before
    assert "500.00 / 1,000.00" in html
    assert f"<title>{team.category.name}: 120.00</title>" in html and "<title>Lodging: 380.00</title>" in html
    month_legend = html.split('<ul class="legend">')[1].split("</ul>")[0]
    assert month_legend.count('class="swatch c') == 2  # this month's legend: the two categories with approved spend


def test_dashboard_marks_a_cost_centre_over_budget(client):
    team = make_team(budget="100.00")
    expense = team.expense(amount="90.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries()
    team.cost_center.monthly_budget = 50
    team.cost_center.save(update_fields=["monthly_budget"])
    client.force_login(team.manager.user)

    html = client.get(reverse("dashboard")).content.decode()

    assert 'class="value over"' in html and "90.00 / 50.00" in html

