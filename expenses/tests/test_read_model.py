"""The monthly spend read model equals the write model's aggregates, redelivered or rebuilt."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Q, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from events import delivery as bus
from events.models import Delivery
from expenses import queries, services
from expenses.models import Expense, MonthlySpend
from expenses.tests.factories import make_team
from organizations.tests.factories import CategoryFactory, CostCenterFactory

pytestmark = pytest.mark.django_db

ACTIONS = ["submit", "withdraw", "approve", "reject", "approve", "submit"]


def write_model_aggregates(org_id):
    rows = (Expense.objects.filter(organization_id=org_id).values("cost_center_id", "category_id", "incurred_on")
            .annotate(sub=Count("id", filter=Q(state="submitted")), app=Count("id", filter=Q(state="approved")),
                      rej=Count("id", filter=Q(state="rejected")),
                      total=Sum("amount", filter=Q(state="approved"))))
    result = {}
    for row in rows:
        key = (row["incurred_on"].strftime("%Y-%m"), row["cost_center_id"], row["category_id"])
        acc = result.setdefault(key, [0, 0, 0, Decimal("0")])
        acc[0] += row["sub"]
        acc[1] += row["app"]
        acc[2] += row["rej"]
        acc[3] += row["total"] or Decimal("0")
    return {k: tuple(v) for k, v in result.items() if any(v)}


def read_model(org_id):
    return {(r.month, r.cost_center_id, r.category_id): (r.submitted_count, r.approved_count, r.rejected_count,
                                                         r.approved_total)
            for r in MonthlySpend.objects.filter(organization_id=org_id) if
            (r.submitted_count, r.approved_count, r.rejected_count, r.approved_total) != (0, 0, 0, 0)}


def deliver_read_model():
    for pk in Delivery.objects.filter(subscriber="expenses.monthly_spend").values_list("pk", flat=True):
        bus.run_delivery(pk)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 5)), min_size=5, max_size=30),
       amounts=st.lists(st.decimals(min_value=Decimal("1"), max_value=Decimal("900"), places=2),
                        min_size=6, max_size=6),
       days=st.lists(st.integers(0, 60), min_size=6, max_size=6))
def test_read_model_matches_write_model_after_random_commands(steps, amounts, days):
    with transaction.atomic():
        team = make_team(budget="3000.00")
        other_cc = CostCenterFactory(organization=team.org, monthly_budget=Decimal("2000.00"))
        other_cat = CategoryFactory(organization=team.org)
        expenses = [team.expense(amount=str(amounts[i]), days_ago=days[i],
                                 cost_center_id=(team.cost_center if i % 2 else other_cc).pk,
                                 category_id=(team.category if i % 3 else other_cat).pk) for i in range(6)]
        for action, index in steps:
            expense = expenses[index]
            try:
                if action == "submit":
                    services.expense_submit(actor=team.employee, expense_id=expense.pk)
                elif action == "withdraw":
                    services.expense_withdraw(actor=team.employee, expense_id=expense.pk)
                elif action == "approve":
                    services.expense_approve(actor=team.manager, expense_id=expense.pk)
                else:
                    services.expense_reject(actor=team.manager, expense_id=expense.pk, reason="no")
            except DomainError:
                pass
        deliver_read_model()
        expected = write_model_aggregates(team.org.pk)
        assert read_model(team.org.pk) == expected

        deliver_read_model()  # every delivery again: nothing changes
        assert read_model(team.org.pk) == expected

        call_command("rebuild_read_models", stdout=open("/dev/null", "w"))  # noqa: SIM115
        assert read_model(team.org.pk) == expected
        transaction.set_rollback(True)


def test_summary_reads_only_the_read_model():
    team = make_team()
    expense = team.expense(amount="50.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    assert queries.expense_summary_by_month(team.org.pk, expense.month) == []  # not delivered yet
    deliver_read_model()
    (row,) = queries.expense_summary_by_month(team.org.pk, expense.month)
    assert (row.approved_count, row.approved_total, row.submitted_count) == (1, Decimal("50.00"), 0)


def test_awaiting_my_approval_is_oldest_first_with_remaining_budget():
    team = make_team(budget="500.00")
    older = team.expense(amount="100.00", submit=True)
    newer = team.expense(employee=team.colleague, amount="50.00", submit=True)
    done = team.expense(amount="120.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=done.pk)

    queue = list(queries.awaiting_my_approval(team.manager))

    assert [e.pk for e in queue] == [older.pk, newer.pk]
    assert all(e.remaining_budget == Decimal("380.00") for e in queue)
    assert list(queries.awaiting_my_approval(team.employee)) == []
