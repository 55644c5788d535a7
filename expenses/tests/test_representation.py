"""The plain-dictionary answers (expenses.representation) are exactly what the DRF serializers of
record would answer, for every kind of expense, and a command's answer (built from what the
command holds, reading nothing back) equals a fresh read of the expense."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import prefetch_related_objects
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from events.queries import latest_effects
from expenses import queries
from expenses.api import ExpenseDetailOut, ExpenseOut, QueueItemOut
from expenses.delegation import delegation_create
from expenses.models import ApprovalStep, Expense, ExpenseState
from expenses.representation import decimal_data, expense_data, expense_detail_data
from expenses.tests.factories import ApprovalFactory, ExpenseFactory, make_team, receipt_file
from organizations.models import Role
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _same(a, b) -> None:
    """Equal as the client reads them (JSON), and with the keys in the same order."""
    assert json.dumps(a, default=str) == json.dumps(b, default=str)


def _fresh(expense_id) -> Expense:
    expense = Expense.objects.select_related("employee__user", "cost_center", "category").get(pk=expense_id)
    prefetch_related_objects([expense], queries.approvals_with_names())
    return expense


def _kinds():
    """One of each: draft, submitted, waiting for finance (the manager step given by a delegate),
    approved, rejected with a reason, a foreign amount with a rate, flags with and without a twin,
    a receipt, a policy outcome, a confirmed duplicate, JPY without decimals."""
    team = make_team(threshold="100.00")
    org = team.org
    now = timezone.now()
    yield ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                         category=team.category)
    yield ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                         category=team.category, state=ExpenseState.SUBMITTED, description="Taxi\nto the airport")
    waiting = ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                             category=team.category, state=ExpenseState.SUBMITTED, amount=Decimal("300.00"))
    ApprovalFactory(expense=waiting, approver=team.colleague, on_behalf_of=team.manager)
    yield waiting
    approved = ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                              category=team.category, state=ExpenseState.APPROVED, amount=Decimal("300.00"),
                              policy_version=3, policy_outcome="manager")
    ApprovalFactory(expense=approved, approver=team.manager, decided_at=now - timedelta(hours=2))
    ApprovalFactory(expense=approved, step=ApprovalStep.FINANCE, approver=team.finance, decided_at=now)
    yield approved
    yield ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                         category=team.category, state=ExpenseState.REJECTED, rejection_reason="No receipt")
    yield ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                         category=team.category, amount=Decimal("120.00"), currency="USD",
                         org_amount=Decimal("110.43"), exchange_rate=Decimal("0.9202500000"), rate_source="ecb",
                         rate_date=org.today() - timedelta(days=2), duplicate_confirmed_at=now,
                         flags=[{"code": "possible_duplicate", "label": "Possible duplicate", "message": "Like x",
                                 "twin_id": str(uuid.uuid4())},
                                {"code": "category_too_old", "label": "Too old", "message": "Older than 30 days"}])
    yield ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                         category=team.category, amount=Decimal("1500"), currency="JPY",
                         org_amount=Decimal("9.13"), exchange_rate=Decimal("0.0060866667"), receipt="r/x.png")
    automatic = ExpenseFactory(organization=org, employee=team.employee, cost_center=team.cost_center,
                               category=team.category, state=ExpenseState.APPROVED, policy_outcome="auto_approved")
    ApprovalFactory(expense=automatic, approver=None, actor_label="policy")
    yield automatic


def test_every_kind_of_expense_reads_as_the_serializers_of_record_would_answer():
    for made in _kinds():
        expense = _fresh(made.pk)
        approvals = list(expense.approvals.all())
        effects = latest_effects(organization_id=expense.organization_id, aggregate_type="expense",
                                 aggregate_id=str(expense.pk))
        _same(expense_data(expense), ExpenseOut(expense).data)
        _same(expense_data(expense, approvals), ExpenseOut(expense).data)
        _same(expense_detail_data(expense, approvals, effects), ExpenseDetailOut(expense).data)


def test_the_queue_and_the_list_answer_as_their_serializers():
    team = make_team(threshold="100.00")
    team.expense(amount="30.00", submit=True)
    two_step = team.expense(employee=team.colleague, amount="300.00", submit=True)
    client = APIClient()
    client.force_authenticate(team.manager.user)
    queue = client.get("/api/v1/expenses/awaiting-approval/")
    assert queue.status_code == 200, queue.content
    rows = list(queries.awaiting_my_approval(team.manager).prefetch_related("approvals"))
    _same(queue.json(), [QueueItemOut(e).data for e in rows])
    assert queue.json()[0]["remaining_budget"] == decimal_data(rows[0].remaining_budget)

    client.post(f"/api/v1/expenses/{two_step.pk}/approve/", {}, format="json")
    listed = client.get("/api/v1/expenses/")
    assert listed.status_code == 200
    by_id = {row["id"]: row for row in listed.json()["results"]}
    for expense in queries.visible_expenses(team.manager).prefetch_related("approvals"):
        _same(by_id[str(expense.pk)], ExpenseOut(expense).data)
    assert by_id[str(two_step.pk)]["state_label"] == "Waiting for finance"


def _answer_equals_a_fresh_read(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    expense = _fresh(body["id"])
    _same(body, ExpenseDetailOut(expense).data)
    return body


def test_a_decisions_answer_reads_nothing_back_and_equals_a_fresh_read():
    team = make_team(threshold="100.00")
    one_step = team.expense(amount="30.00", submit=True)
    two_step = team.expense(amount="300.00", submit=True)
    rejected = team.expense(employee=team.colleague, amount="20.00", submit=True)
    manager, finance = APIClient(), APIClient()
    manager.force_authenticate(team.manager.user)
    finance.force_authenticate(team.finance.user)

    with CaptureQueriesContext(connection) as statements:
        response = manager.post(f"/api/v1/expenses/{one_step.pk}/approve/", {}, format="json")
    read_back = [q["sql"] for q in statements.captured_queries if "events_delivery" in q["sql"]
                 and q["sql"].lstrip().startswith("SELECT")]
    assert read_back == [], "the answer read the deliveries back"
    reads_of_approvals = [q["sql"] for q in statements.captured_queries
                          if '"expenses_approval"' in q["sql"] and q["sql"].lstrip().startswith("SELECT")]
    assert len(reads_of_approvals) == 1  # the command's, under its lock (with the month's spend)
    approved = _answer_equals_a_fresh_read(response)
    assert approved["state"] == "approved" and set(approved["effects"].values()) == {"pending"}
    assert [a["step"] for a in approved["approvals"]] == ["manager"]

    recorded = _answer_equals_a_fresh_read(manager.post(f"/api/v1/expenses/{two_step.pk}/approve/", {},
                                                        format="json"))
    assert recorded["state_label"] == "Waiting for finance" and recorded["awaiting"] == "finance"
    final = _answer_equals_a_fresh_read(finance.post(f"/api/v1/expenses/{two_step.pk}/approve/", {}, format="json"))
    assert [a["step"] for a in final["approvals"]] == ["manager", "finance"]

    refused = _answer_equals_a_fresh_read(manager.post(f"/api/v1/expenses/{rejected.pk}/reject/",
                                                       {"reason": "Not ours"}, format="json"))
    assert refused["rejection_reason"] == "Not ours" and refused["approvals"] == []


def test_a_delegates_approval_answers_with_both_names():
    team = make_team()
    delegate = MembershipFactory(organization=team.org, role=Role.EMPLOYEE)
    delegation_create(actor=team.manager, delegate_id=delegate.pk, ends_on=team.org.today() + timedelta(days=3))
    expense = team.expense(submit=True)
    client = APIClient()
    client.force_authenticate(delegate.user)
    body = _answer_equals_a_fresh_read(client.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json"))
    assert body["approvals"][0]["on_behalf_of"] == team.manager.display_name


def test_a_new_draft_with_a_receipt_answers_as_a_fresh_read():
    team = make_team()
    client = APIClient()
    client.force_authenticate(team.employee.user)
    created = client.post("/api/v1/expenses/", {"cost_center_id": team.cost_center.pk,
                                                "category_id": team.category.pk, "amount": "12.50",
                                                "merchant": "Kiosk", "incurred_on": team.org.today().isoformat()},
                          format="json")
    assert created.status_code == 201, created.content
    _same(created.json(), ExpenseDetailOut(_fresh(created.json()["id"])).data)
    uploaded = client.post(f"/api/v1/expenses/{created.json()['id']}/receipt/", {"receipt": receipt_file()},
                           format="multipart")
    assert _answer_equals_a_fresh_read(uploaded)["has_receipt"] is True
