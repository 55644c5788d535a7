"""The monthly spend read model equals the write model's aggregates, redelivered or rebuilt.

Semantics (see ``MonthlySpend``): ``submitted_count`` = expenses of that key *currently*
submitted (submit +1; withdraw, approve, reject -1), ``approved_count`` / ``rejected_count`` /
``approved_total`` = expenses currently approved / rejected (final states, never left). So
each counter equals a ``COUNT`` over the expense table by state, which is what we compare."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Q, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from events.models import Delivery, DeliveryStatus
from events.running import run_delivery
from expenses import queries, services
from expenses.models import Expense, MonthlySpend, ProcessedEvent
from expenses.tests.factories import make_team
from organizations.tests.factories import CategoryFactory, CostCenterFactory
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db

# Weighted towards progress, so most sequences reach every state (finance step included).
ACTIONS = ["submit"] * 3 + ["approve"] * 2 + ["finance"] * 2 + ["withdraw", "reject", "update"]


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


def all_rows():
    """Every read-model row (zero rows too), without its surrogate key."""
    return sorted(MonthlySpend.objects.values_list(
        "organization_id", "month", "cost_center_id", "cost_center_code", "category_id", "category_name",
        "submitted_count", "approved_count", "rejected_count", "approved_total"))


def run_command(team, action, expense, choice):
    if action == "submit":
        services.expense_submit(actor=team.employee, expense_id=expense.pk)
    elif action == "withdraw":
        services.expense_withdraw(actor=team.employee, expense_id=expense.pk)
    elif action == "approve":
        services.expense_approve(actor=team.manager, expense_id=expense.pk)
    elif action == "finance":
        services.expense_approve(actor=team.finance, expense_id=expense.pk)
    elif action == "reject":
        services.expense_reject(actor=team.manager, expense_id=expense.pk, reason="no")
    else:  # a draft moves to another cost centre / category / month / amount
        cost_center, category, days_ago, amount = choice
        services.expense_update(actor=team.employee, expense_id=expense.pk, data={
            "cost_center_id": cost_center.pk, "category_id": category.pk, "amount": amount,
            "incurred_on": team.org.today() - dt.timedelta(days=days_ago)})


# Below and above the 1000.00 second-approval threshold, equally often.
amounts_st = st.one_of(st.decimals(min_value=Decimal("1"), max_value=Decimal("1000"), places=2),
                       st.decimals(min_value=Decimal("1000.01"), max_value=Decimal("1500"), places=2))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 3), st.integers(0, 3), st.integers(0, 60),
                                amounts_st), min_size=10, max_size=40),
       amounts=st.lists(amounts_st, min_size=4, max_size=4),
       days=st.lists(st.integers(0, 60), min_size=4, max_size=4))
def test_read_model_matches_write_model_after_random_commands(steps, amounts, days):
    with transaction.atomic():
        # given two cost centres x two categories, a finance step above 1000, budgets that run out
        team = make_team(budget="3000.00", threshold="1000.00")
        other_cc = CostCenterFactory(organization=team.org, monthly_budget=Decimal("2000.00"))
        other_cat = CategoryFactory(organization=team.org)
        places = [(cc, cat) for cc in (team.cost_center, other_cc) for cat in (team.category, other_cat)]
        expenses = [team.expense(amount=str(amounts[i]), days_ago=days[i], cost_center_id=places[i % 4][0].pk,
                                 category_id=places[i % 4][1].pk) for i in range(4)]
        # when a random sequence of commands runs (refusals included) and the deliveries run
        for action, index, place, days_ago, amount in steps:
            with contextlib.suppress(DomainError):
                run_command(team, action, expenses[index], (*places[place], days_ago, str(amount)))
        run_deliveries(subscriber="expenses.monthly_spend")
        # then the read model counts what the write model holds
        expected = write_model_aggregates(team.org.pk)
        assert read_model(team.org.pk) == expected
        rows = all_rows()

        run_deliveries(subscriber="expenses.monthly_spend", done_too=True)  # every delivery again: nothing changes
        assert all_rows() == rows

        call_command("rebuild_read_models", stdout=io.StringIO())
        assert all_rows() == rows  # identical rows, zero rows included
        assert read_model(team.org.pk) == expected
        transaction.set_rollback(True)


def test_redelivering_the_read_model_delivery_twice_changes_nothing():
    # given an approved expense whose read-model delivery has run
    team = make_team()
    expense = team.expense(amount="50.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries(subscriber="expenses.monthly_spend")
    rows, processed = all_rows(), ProcessedEvent.objects.count()
    delivery = Delivery.objects.get(subscriber="expenses.monthly_spend", event_type="expense.approved")

    # when the same delivery is handed to the handler twice more (as if "done" had been lost)
    for _ in range(2):
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PENDING, done_at=None)
        assert run_delivery(delivery.pk) == "done"

    # then the read model and its idempotency record are unchanged
    assert all_rows() == rows
    assert ProcessedEvent.objects.count() == processed


def test_rebuild_restores_a_damaged_read_model():
    team = make_team()
    expense = team.expense(amount="50.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    rejected = team.expense(amount="20.00", submit=True)
    services.expense_reject(actor=team.manager, expense_id=rejected.pk, reason="no")
    run_deliveries(subscriber="expenses.monthly_spend")
    rows = all_rows()
    MonthlySpend.objects.update(approved_total=Decimal("999.99"))

    call_command("rebuild_read_models", stdout=io.StringIO())

    assert all_rows() == rows


def test_summary_reads_only_the_read_model():
    team = make_team()
    expense = team.expense(amount="50.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    assert queries.expense_summary_by_month(team.org.pk, expense.month) == []  # not delivered yet
    run_deliveries(subscriber="expenses.monthly_spend")
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


def test_a_batch_of_read_model_deliveries_is_one_upsert_and_lands_what_one_at_a_time_does():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from events.envelope import Envelope
    from events.models import Event
    from events.running import drain
    from events.types import event_type
    from expenses.subscribers import _CHANGES, update_monthly_spend_batch

    # given a history over two cost centres and two months, its read-model deliveries waiting
    team = make_team()
    other_cc = CostCenterFactory(organization=team.org, monthly_budget=Decimal("5000.00"))
    approved = team.expense(amount="120.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=approved.pk)
    rejected = team.expense(amount="30.00", submit=True, cost_center_id=other_cc.pk)
    services.expense_reject(actor=team.manager, expense_id=rejected.pk, reason="no")
    late = team.expense(amount="45.50", submit=True, days_ago=40)
    services.expense_approve(actor=team.manager, expense_id=late.pk)
    waiting = Delivery.objects.filter(subscriber="expenses.monthly_spend")
    assert waiting.count() == 6

    # when a worker with a backlog runs them as one batch
    with CaptureQueriesContext(connection) as queries:
        assert drain("expenses.monthly_spend", batch=50, seconds=60) == 6

    # then the batch form wrote every row in one statement...
    assert not waiting.exclude(status=DeliveryStatus.DONE).exists()
    upserts = [q["sql"] for q in queries if q["sql"].lstrip().startswith("INSERT INTO expenses_monthlyspend")]
    assert len(upserts) == 1
    batched = all_rows()
    # ...and the rows are those one event at a time gives (the rebuild applies the log one by one)
    call_command("rebuild_read_models", stdout=io.StringIO())
    assert all_rows() == batched
    assert read_model(team.org.pk) == write_model_aggregates(team.org.pk)

    # and the same batch handed to the batch form again (as if "done" had been lost) changes nothing
    rows = Event.objects.filter(type__in=list(_CHANGES), organization_id=team.org.pk).order_by("occurred_at")
    update_monthly_spend_batch([(event_type(r.type).from_payload(r.payload), Envelope.of(r, 0)) for r in rows])
    assert all_rows() == batched
