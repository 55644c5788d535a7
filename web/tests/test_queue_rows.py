"""The approval queue's table, written out by the view (``web.views.queue.queue_rows``): the same
cells whether the list opens unfiltered (one statement) or filtered (the queryset), amounts in the
organisation's locale with their currency, the budget left flagged where it would not cover the
expense, the policy's flags, and everything a member typed escaped."""

from __future__ import annotations

import re

import pytest

from expenses.models import Expense
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def _row(html: str, pk) -> str:
    match = re.search(rf'<tr data-expense="{pk}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {pk}"
    return match.group(1)


@pytest.mark.parametrize("query", ["", "?q=e", "?sort=-submitted"])
def test_each_row_shows_the_expense_as_the_organisation_writes_it(client, query):
    team = make_team(budget="1500.00", threshold="100000.00")
    team.org.locale = "de_DE"
    team.org.save(update_fields=["locale"])
    team.employee.user.first_name, team.employee.user.last_name = "Ève", "<i>O'Neil</i>"
    team.employee.user.save(update_fields=["first_name", "last_name"])
    big = team.expense(merchant='Hotel <b>"Adlon"</b>', amount="1234.50", submit=True)
    small = team.expense(merchant="Taxi & more", amount="12.00", submit=True)
    Expense.objects.filter(pk=small.pk).update(flags=[{"code": "category_too_old", "label": 'Too "old"',
                                                      "message": "Older than <30> days"}])
    client.force_login(team.manager.user)
    html = client.get(f"/approvals/{query}").content.decode()

    row = _row(html, big.pk)
    assert 'aria-label="Select Hotel &lt;b&gt;&quot;Adlon&quot;&lt;/b&gt;, ' in row
    assert "1.234,50 EUR" in row and "<b>" not in row and "<i>" not in row
    assert 'data-label="Employee">Ève &lt;i&gt;O&#x27;Neil&lt;/i&gt;</td>' in row
    assert f'<a href="/expenses/{big.pk}/">' in row
    assert 'class="num">1.500,00 EUR</td>' in row  # the month's budget, 1,500, covers it
    assert re.search(r'data-label="Submitted">\d{4}-\d\d-\d\d \d\d:\d\d<', row)
    assert '<span class="pill submitted">Submitted</span>' in row

    row = _row(html, small.pk)
    assert "Taxi &amp; more" in row and ", 12,00 EUR" in row
    assert '<span class="pill flag" title="Older than &lt;30&gt; days">Too &quot;old&quot;</span>' in row


def test_the_budget_left_is_flagged_where_it_does_not_cover_the_expense(client):
    team = make_team(budget="100.00", threshold="100000.00")
    over = team.expense(merchant="Dinner", amount="150.00", submit=True)
    client.force_login(team.manager.user)
    row = _row(client.get("/approvals/").content.decode(), over.pk)
    assert 'class="num warn">100.00 EUR</td>' in row


@pytest.mark.parametrize("query", ["", "?q=o"])
def test_a_converted_amount_a_random_check_and_the_finance_step_are_shown(client, query):
    import datetime as dt
    from decimal import Decimal

    from expenses import services

    team = make_team(budget="9000.00", threshold="100.00")
    foreign = team.expense(merchant="Hotel Boston", amount="120.00", submit=True)
    Expense.objects.filter(pk=foreign.pk).update(
        currency="USD", org_amount=Decimal("110.43"), exchange_rate=Decimal("0.9202500000"),
        rate_date=team.org.today() - dt.timedelta(days=1), policy_outcome="sampled")
    services.expense_approve(actor=team.manager, expense_id=foreign.pk)  # above 100: finance is next
    client.force_login(team.finance.user)
    row = _row(client.get(f"/approvals/{query}").content.decode(), foreign.pk)
    assert '<br><small class="conversion">120.00 USD → 110.43 EUR' in row
    assert '<span class="pill sampled" title="Picked for a random check">Random check</span>' in row
    assert '<span class="pill submitted awaiting-finance">Waiting for finance</span>' in row


def test_a_flag_without_its_texts_shows_empty_and_never_a_500(client):
    team = make_team()
    old = team.expense(merchant="Old row", submit=True)
    Expense.objects.filter(pk=old.pk).update(flags=[{"code": "legacy", "label": None}])
    client.force_login(team.manager.user)
    response = client.get("/approvals/")
    assert response.status_code == 200
    assert '<span class="pill flag" title=""></span>' in _row(response.content.decode(), old.pk)
