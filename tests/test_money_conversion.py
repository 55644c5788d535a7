"""Expenses entered as spent and converted at the rate of the date incurred (real ECB rates)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from events.models import Event
from expenses import errors as expense_errors
from expenses import services
from expenses.models import Expense
from money import errors
from money import services as money
from money.models import ExchangeRate
from tests.support.money import load_reference_rates, team_in

pytestmark = pytest.mark.django_db

SATURDAY = dt.date(2026, 10, 24)
FRIDAY = dt.date(2026, 10, 23)


@pytest.fixture
def rates():
    load_reference_rates()


def test_usd_expense_on_a_saturday_takes_fridays_rate(rates):
    team = team_in("EUR")
    expense = team.expense(amount="120.00", currency="USD", incurred_on=SATURDAY)
    assert (expense.rate_date, expense.rate_source) == (FRIDAY, "ecb")
    assert expense.exchange_rate == Decimal("0.8934155276")  # 1 / 1.1193, EUR per USD on 2026-10-23
    assert expense.org_amount == Decimal("107.21") and expense.org_currency == "EUR"
    assert expense.conversion_text == "120.00 USD → 107.21 EUR at 0.8934155276 on 2026-10-23"


def test_jpy_keeps_zero_decimals_from_request_to_event(rates):
    team = team_in("EUR")
    client = APIClient()
    client.force_authenticate(team.employee.user)
    body = {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "1500",
            "currency": "JPY", "merchant": "Ramen", "incurred_on": FRIDAY.isoformat()}
    created = client.post("/api/v1/expenses/", body, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["amount"], created.json()["currency"], created.json()["org_amount"]) == ("1500", "JPY",
                                                                                                    "8.55")
    half_yen = client.post("/api/v1/expenses/", {**body, "amount": "1500.5"}, format="json")
    assert half_yen.status_code == 400 and half_yen.json()["code"] == "invalid_amount"
    services.expense_submit(actor=team.employee, expense_id=created.json()["id"], confirm_not_duplicate=True)
    payload = Event.objects.get(type="expense.submitted", aggregate_id=created.json()["id"]).payload
    assert (payload["amount"], payload["currency"], payload["org_amount"], payload["org_currency"]) == (
        "1500", "JPY", "8.55", "EUR")
    assert client.get(f"/api/v1/expenses/{created.json()['id']}/").json()["amount"] == "1500"


def test_kwd_keeps_three_decimals_at_a_rate_finance_set(rates):
    team = team_in("EUR")
    money.exchange_rate_set(actor=team.finance, quote="KWD", on=FRIDAY, rate="0.3412", reason="bank's rate")
    expense = team.expense(amount="12.345", currency="KWD", incurred_on=SATURDAY, submit=True)
    assert (expense.amount, expense.rate_source, expense.org_amount) == (Decimal("12.345"), "manual", Decimal("36.18"))
    payload = Event.objects.get(type="expense.submitted", aggregate_id=str(expense.pk)).payload
    assert payload["amount"] == "12.345"
    with pytest.raises(expense_errors.InvalidAmount):
        team.expense(amount="12.3456", currency="KWD", incurred_on=SATURDAY)


def test_no_rate_within_seven_days_is_refused_and_writes_nothing(rates):
    team = team_in("EUR")
    client = APIClient()
    client.force_authenticate(team.employee.user)
    body = {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "10.00",
            "currency": "USD", "merchant": "Too early", "incurred_on": "2026-07-20"}  # fixture starts 2026-08-03
    events_before = Event.objects.count()
    response = client.post("/api/v1/expenses/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "exchange_rate_missing"
    assert response.json()["details"] == {"currency": "USD", "org_currency": "EUR", "date": "2026-07-20"}
    assert "USD" in response.json()["message"] and "2026-07-20" in response.json()["message"]
    assert Expense.objects.count() == 0 and Event.objects.count() == events_before
    # a currency the ECB does not publish, and a code no one uses
    with pytest.raises(errors.ExchangeRateMissing):
        team.expense(amount="10.00", currency="VND", incurred_on=FRIDAY)
    assert client.post("/api/v1/expenses/", {**body, "currency": "XYZ"}, format="json").json()["code"] == \
        "invalid_currency"
    assert Expense.objects.count() == 0


def test_eight_days_back_is_too_far(rates):
    team = team_in("EUR")
    # 2026-08-03 is the fixture's first day: 2026-08-10 finds it (7 days back), 2026-08-11 does not.
    assert team.expense(amount="1.00", currency="USD", incurred_on=dt.date(2026, 8, 3)).rate_date == \
        dt.date(2026, 8, 3)
    ExchangeRate.objects.filter(date__gt=dt.date(2026, 8, 3), date__lt=dt.date(2026, 8, 20)).delete()
    assert team.expense(amount="1.00", currency="USD", incurred_on=dt.date(2026, 8, 10)).rate_date == \
        dt.date(2026, 8, 3)
    with pytest.raises(errors.ExchangeRateMissing):
        team.expense(amount="1.00", currency="USD", incurred_on=dt.date(2026, 8, 11))


def test_gbp_organisation_converts_usd_through_eur(rates):
    team = team_in("GBP")
    expense = team.expense(amount="120.00", currency="USD", incurred_on=SATURDAY)
    assert expense.exchange_rate == Decimal("0.7480389529")  # (EUR->GBP 0.83728) / (EUR->USD 1.1193)
    assert (expense.org_amount, expense.org_currency, expense.rate_date) == (Decimal("89.76"), "GBP", FRIDAY)
    euro = team.expense(amount="100.00", currency="EUR", incurred_on=FRIDAY)
    assert euro.org_amount == Decimal("83.73")  # 100 x 0.83728, half up
    pounds = team.expense(amount="50.00", incurred_on=FRIDAY)
    assert (pounds.currency, pounds.org_amount, pounds.rate_source) == ("GBP", Decimal("50.00"), "identity")


def test_a_rate_change_never_touches_a_submitted_expense(rates):
    team = team_in("EUR")
    submitted = team.expense(amount="120.00", currency="USD", incurred_on=SATURDAY, submit=True)
    draft = team.expense(amount="120.00", currency="USD", incurred_on=SATURDAY, merchant="Draft")
    money.exchange_rate_set(actor=team.finance, quote="USD", on=FRIDAY, rate="1.2000", reason="correction")
    submitted.refresh_from_db()
    assert (submitted.exchange_rate, submitted.org_amount, submitted.rate_source) == (
        Decimal("0.8934155276"), Decimal("107.21"), "ecb")
    # a draft is converted again when it is submitted, and keeps that rate from then on
    draft = services.expense_submit(actor=team.employee, expense_id=draft.pk, confirm_not_duplicate=True)
    assert (draft.org_amount, draft.rate_source) == (Decimal("100.00"), "manual")
    client = APIClient()
    client.force_authenticate(team.manager.user)
    shown = client.get(f"/api/v1/expenses/{submitted.pk}/").json()
    assert (shown["exchange_rate"], shown["org_amount"], shown["rate_date"]) == ("0.8934155276", "107.21",
                                                                                  "2026-10-23")


def test_the_organisations_maximum_applies_to_the_converted_amount(rates):
    team = team_in("EUR", max_expense_amount=Decimal("100.00"))
    with pytest.raises(expense_errors.AmountTooLarge):
        team.expense(amount="120.00", currency="USD", incurred_on=SATURDAY)  # 107.21 EUR
    assert team.expense(amount="15000", currency="JPY", incurred_on=FRIDAY).org_amount == Decimal("85.47")
