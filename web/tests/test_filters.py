"""Search, filters and sorting: the pages and the API answer the same query string the same way."""

from __future__ import annotations

import datetime as dt

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
    from tests.support.deliveries import run_deliveries

    team = make_team()
    for employee in (team.employee, team.colleague):
        expense = team.expense(employee=employee, submit=True)
        services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries()
    accounting.payout_run(organization=team.org)
    client.force_login(team.finance.user)
    rows = client.get(f"/finance/reimbursements/?q={team.colleague.display_name}&state=in_batch").context["items"]
    assert [r.payee_name for r in rows] == [team.colleague.display_name]
    api = APIClient()
    api.force_authenticate(team.finance.user)
    assert len(api.get("/api/v1/reimbursements/?state=queued").json()["results"]) == 0


# --- amounts in the organisation's currency, typed its way ----------------------------------------

def _berlin_team():
    from organizations.tests.factories import OrganizationFactory

    return make_team(org=OrganizationFactory(locale="de_DE", time_zone="Europe/Berlin"))


def _foreign_submission(team, *, amount, org_amount, merchant):
    """A submitted expense spent in yen, converted into the organisation's euros."""
    from decimal import Decimal

    from expenses.models import ExpenseState
    from expenses.tests.factories import ExpenseFactory

    return ExpenseFactory(organization=team.org, employee=team.employee, cost_center=team.cost_center,
                          category=team.category, amount=Decimal(amount), currency="JPY",
                          org_amount=Decimal(org_amount), exchange_rate=Decimal("0.0061"), merchant=merchant,
                          state=ExpenseState.SUBMITTED)


def test_the_queue_and_the_api_filter_the_amount_converted_into_the_organisations_currency(client):
    team = make_team()
    ramen = _foreign_submission(team, amount="10000", org_amount="61.00", merchant="Ramen")  # 10,000 JPY = 61 EUR
    taxi = team.expense(merchant="Taxi", amount="90.00", submit=True)
    client.force_login(team.manager.user)
    response = client.get("/approvals/?amount_min=50&amount_max=100&sort=-amount")
    assert [e.pk for e in response.context["expenses"]] == [taxi.pk, ramen.pk]  # sorted by the euros too
    assert [e.pk for e in client.get("/approvals/?amount_min=1000").context["expenses"]] == []  # not 10,000 yen
    assert "Amount from (EUR)" in response.content.decode()
    api = APIClient()
    api.force_authenticate(team.manager.user)
    assert [e["id"] for e in api.get("/api/v1/expenses/awaiting-approval/?amount_max=70").json()] == [str(ramen.pk)]
    api.force_authenticate(team.employee.user)
    mine = api.get("/api/v1/expenses/?amount_min=1000").json()["results"]
    assert mine == []  # the employee's own list filters the same converted amount


def test_a_berlin_organisation_filters_with_1_comma_50_and_the_api_keeps_plain_decimals(client):
    team = _berlin_team()
    small = team.expense(merchant="Bäckerei", amount="1.50", submit=True)
    team.expense(merchant="Hotel", amount="1234.00", submit=True)
    client.force_login(team.manager.user)
    page = client.get("/approvals/?amount_max=1,50")
    assert [e.pk for e in page.context["expenses"]] == [small.pk]
    assert [e.merchant for e in client.get("/approvals/?amount_min=1.234,00").context["expenses"]] == ["Hotel"]
    api = APIClient()
    api.force_authenticate(team.manager.user)
    assert [e["id"] for e in api.get("/api/v1/expenses/awaiting-approval/?amount_max=1.50").json()] == [str(small.pk)]
    refused = api.get("/api/v1/expenses/awaiting-approval/?amount_max=1,50")
    assert refused.status_code == 400 and set(refused.json()) == {"code", "message", "details"}


def test_a_bad_amount_names_its_field_and_the_list_still_shows(client):
    team = _berlin_team()
    team.expense(merchant="Bäckerei", amount="1.50", submit=True)
    client.force_login(team.manager.user)
    response = client.get("/approvals/?amount_min=1.50&amount_max=zwölf")  # London's way, in Berlin
    assert response.status_code == 200
    errors = response.context["filter"].errors
    assert errors["amount_min"] == ["Amount from (EUR): '1.50' is not an amount; write it like 12,50."]
    assert errors["amount_max"][0].startswith("Amount to (EUR): 'zwölf' is not an amount")
    assert len(response.context["expenses"]) == 1  # the bad bounds are ignored, not a 500
    assert "Amount from (EUR): &#x27;1.50&#x27; is not an amount" in response.content.decode()


# --- payout batches, the journal and an account's ledger -----------------------------------------

@pytest.fixture
def books():
    """Two payout batches (one paid, one open) and the journal entries they made."""
    from accounting import services as accounting
    from expenses import services
    from tests.support.deliveries import run_deliveries

    team = make_team()

    def reimbursed(employee, amount, merchant):
        expense = team.expense(employee=employee, amount=amount, merchant=merchant, submit=True)
        services.expense_approve(actor=team.manager, expense_id=expense.pk)
        run_deliveries(prefix="accounting.")  # the ledger and the reimbursement; nothing else is read here
        return expense

    reimbursed(team.employee, "30.00", "Taxi")
    paid = accounting.payout_run(organization=team.org)
    accounting.payout_batch_confirm(actor=team.finance, batch_id=paid.pk)
    run_deliveries(prefix="accounting.")
    reimbursed(team.colleague, "120.00", "Hotel")
    reimbursed(team.employee, "15.00", "Bus")
    open_batch = accounting.payout_run(organization=team.org)
    return team, paid, open_batch


def test_payout_batches_filter_by_state_total_payee_and_day_on_the_page_and_in_the_api(client, books):
    team, paid, open_batch = books
    today = team.org.today().isoformat()
    client.force_login(team.finance.user)

    def page(query):
        return [b.pk for b in client.get(f"/finance/batches/{query}").context["batches"]]

    assert page("?state=open") == [open_batch.pk]
    assert page("?amount_min=100") == [open_batch.pk]  # 135.00
    assert page("?amount_max=30.00") == [paid.pk]
    assert page(f"?payee={team.colleague.display_name}") == [open_batch.pk]
    assert page(f"?payee={team.employee.display_name}&sort=created") == [paid.pk, open_batch.pk]
    assert page(f"?created_from={today}&created_to={today}&sort=-amount") == [open_batch.pk, paid.pk]
    assert page(f"?created_to={(team.org.today() - dt.timedelta(days=1)).isoformat()}") == []
    assert 'id="no-match"' in client.get("/finance/batches/?state=open&amount_max=1").content.decode()
    api = APIClient()
    api.force_authenticate(team.finance.user)
    body = api.get(f"/api/v1/payout-batches/?state=confirmed&created_from={today}").json()
    assert [b["id"] for b in body["results"]] == [str(paid.pk)]
    assert [b["id"] for b in api.get("/api/v1/payout-batches/?amount_min=100").json()["results"]] == \
        [str(open_batch.pk)]


def test_the_journal_filters_by_total_memo_account_kind_and_date_on_the_page_and_in_the_api(client, books):
    from accounting import services as accounting
    from accounting.models import Account, JournalEntry

    team, _, _ = books
    hotel = JournalEntry.objects.get(memo__startswith="Approved expense Hotel")
    reversal = accounting.journal_reverse(actor=team.finance, entry_id=hotel.pk)
    cash = Account.objects.get(organization=team.org, code=Account.CASH)
    client.force_login(team.finance.user)

    def page(query):
        return {e.memo for e in client.get(f"/finance/journal/{query}").context["entries"]}

    assert page("?amount_min=100&kind=standing") == set()  # the hotel's entry was reversed
    assert page("?amount_min=100") == {hotel.memo, reversal.memo}
    assert page("?amount_min=100&kind=reversal") == {reversal.memo}
    assert page(f"?q={team.colleague.display_name}&kind=reversed") == {hotel.memo}
    assert page(f"?account={cash.pk}") == {f"Reimbursement paid to {team.employee.display_name}"}
    assert page(f"?date_to={(team.org.today() - dt.timedelta(days=1)).isoformat()}") == set()
    assert len(page(f"?date_from={team.org.today().isoformat()}")) == JournalEntry.objects.count() == 5
    api = APIClient()
    api.force_authenticate(team.finance.user)
    body = api.get("/api/v1/ledger/entries/?amount_max=20&amount_min=15").json()["results"]
    assert [(e["memo"], e["total"]) for e in body] == [(f"Approved expense Bus ({team.employee.display_name})",
                                                         "15.00")]
    assert api.get("/api/v1/ledger/entries/?kind=sideways").status_code == 400


def test_an_account_ledger_filters_its_lines_and_keeps_the_true_running_balance(client, books):
    from decimal import Decimal

    from accounting.models import Account

    team, _, _ = books
    payable = Account.objects.get(organization=team.org, code=Account.PAYABLE)
    client.force_login(team.finance.user)
    everything = client.get(f"/finance/accounts/{payable.pk}/").context["lines"]
    # credit 30, debit 30 (paid), credit 120, credit 15
    assert [line["balance"] for line in everything] == [Decimal("30.00"), Decimal("0.00"), Decimal("120.00"),
                                                        Decimal("135.00")]
    shown = client.get(f"/finance/accounts/{payable.pk}/?amount_max=20").context["lines"]
    assert [(line["credit"], line["balance"]) for line in shown] == [(Decimal("15.00"), Decimal("135.00"))]
    api = APIClient()
    api.force_authenticate(team.finance.user)
    rows = api.get(f"/api/v1/ledger/accounts/{payable.pk}/?q=Hotel").json()
    assert [(row["credit"], row["balance"]) for row in rows] == [("120.00", "120.00")]
    assert api.get(f"/api/v1/ledger/accounts/{payable.pk}/?amount_min=1e3").status_code == 400


def test_finance_filters_refuse_a_bad_amount_at_the_field_on_the_page_and_in_the_error_shape(client):
    team = make_team()
    client.force_login(team.finance.user)
    for path in ("/finance/batches/", "/finance/journal/", "/finance/reimbursements/"):
        response = client.get(f"{path}?amount_min=%D9%A1%D9%A2")  # Arabic-Indic digits
        assert response.status_code == 200, path
        assert response.context["filter"].errors["amount_min"][0].startswith("Amount from (EUR): "), path
    api = APIClient()
    api.force_authenticate(team.finance.user)
    for path in ("/api/v1/payout-batches/", "/api/v1/ledger/entries/", "/api/v1/reimbursements/"):
        refused = api.get(f"{path}?amount_max=12.505")
        assert refused.status_code == 400, path
        assert refused.json()["details"]["amount_max"][0].startswith("Amount to (EUR): at most two decimals"), path
