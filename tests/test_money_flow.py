"""Foreign-currency expenses through the whole chain: every book in the organisation's currency
holds exactly the converted amounts (real PostgreSQL; a real worker for the delivery run, the
in-process delivery runner for the property test)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from accounting import queries as ledger
from accounting.models import Account, Reimbursement
from core.currencies import minor_units
from events.models import Delivery
from expenses import services
from expenses.models import Expense, MonthlySpend
from money import services as money
from tests.support.deliveries import run_deliveries
from tests.support.money import load_reference_rates, team_in
from tests.support.processes import wait_until

FIXTURE_DAYS = [dt.date(2026, 8, 3) + dt.timedelta(days=n) for n in range(89)]  # to 2026-10-30


def _approve_all(team, expenses):
    for expense in expenses:
        services.expense_approve(actor=team.manager, expense_id=expense.pk)


def _assert_books_hold_converted_amounts(team, approved):
    org = team.org.pk
    total = sum((e.org_amount for e in Expense.objects.filter(pk__in=[e.pk for e in approved])), Decimal("0"))
    rows = ledger.trial_balance(org)
    assert sum(r.debit for r in rows) == sum(r.credit for r in rows)
    expense_side = sum((r.debit - r.credit for r in rows if r.account.kind == "expense"), Decimal("0"))
    assert expense_side == total
    payable = next(r for r in rows if r.account.code == Account.PAYABLE)
    assert payable.credit == total
    reimbursements = Reimbursement.objects.filter(organization_id=org)
    assert {r.expense_id: (r.amount, r.currency) for r in reimbursements} == {
        e.pk: (e.org_amount, team.org.currency) for e in Expense.objects.filter(pk__in=[e.pk for e in approved])}
    by_month: dict[str, Decimal] = {}
    for e in Expense.objects.filter(pk__in=[e.pk for e in approved]):
        by_month[e.month] = by_month.get(e.month, Decimal("0")) + e.org_amount
    for month, spent in by_month.items():
        read = sum((r.approved_total for r in MonthlySpend.objects.filter(organization_id=org, month=month)),
                   Decimal("0"))
        assert read == spent
        assert services.remaining_budget(team.cost_center, month) == team.cost_center.monthly_budget - spent


@pytest.mark.worker
def test_foreign_expenses_reach_every_book_converted_through_a_real_worker(celery_processes):
    load_reference_rates()
    team = team_in("GBP")
    money.exchange_rate_set(actor=team.finance, quote="KWD", on=dt.date(2026, 10, 23), rate="0.3412",
                            reason="not published by the ECB")
    spent = [("120.00", "USD", dt.date(2026, 10, 24)), ("15000", "JPY", dt.date(2026, 10, 21)),
             ("12.345", "KWD", dt.date(2026, 10, 25)), ("99.99", "EUR", dt.date(2026, 9, 30)),
             ("42.10", "GBP", dt.date(2026, 9, 1))]
    expenses = [team.expense(amount=a, currency=c, incurred_on=d, submit=True, merchant=f"m{i}")
                for i, (a, c, d) in enumerate(spent)]
    _approve_all(team, expenses)
    celery_processes.worker()
    wait_until(lambda: not Delivery.objects.exclude(status="done").exists(), timeout=60,
               message="every delivery done")
    _assert_books_hold_converted_amounts(team, expenses)


CURRENCIES = ["EUR", "USD", "JPY", "GBP", "CHF", "SEK", "HUF", "KWD"]


@pytest.mark.django_db
# No shrinking: a failing example is reported as drawn (shrinking through the database takes minutes).
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(org_currency=st.sampled_from(["EUR", "GBP", "USD"]),
       # At least 1,000 minor units (10.00 SEK, 1,000 JPY): one öre or forint converts to less than the
       # organisation's smallest unit, which the command rightly refuses (tests/test_money_conversion.py).
       claims=st.lists(st.tuples(st.sampled_from(CURRENCIES), st.integers(min_value=1_000, max_value=500_000),
                                 st.sampled_from(FIXTURE_DAYS)), min_size=1, max_size=6))
def test_every_sum_equals_the_sum_of_converted_amounts(org_currency, claims):
    load_reference_rates()  # idempotent: the same rows each example
    team = team_in(org_currency, max_expense_amount=Decimal("99999999.00"),
                   second_approval_threshold=Decimal("99999999.00"))
    for day in {d for _, _, d in claims}:
        money.exchange_rate_set(actor=team.finance, quote="KWD", on=day, rate="0.3412", reason="test")
    approved = []
    for index, (currency, minor, day) in enumerate(claims):
        amount = Decimal(minor).scaleb(-minor_units(currency))
        expense = team.expense(amount=str(amount), currency=currency, incurred_on=day, submit=True,
                               merchant=f"claim {index}")
        approved.append(expense)
    _approve_all(team, approved)
    run_deliveries()
    _assert_books_hold_converted_amounts(team, approved)
