"""Every refused command returns its code, writes no row and publishes no event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from events.models import Delivery, Event
from expenses import services
from expenses.models import Approval, Expense, ExpenseState
from expenses.tests.factories import make_team, receipt_file
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def snapshot():
    return (Event.objects.count(), Delivery.objects.count(), Approval.objects.count(),
            sorted(Expense.objects.values_list("pk", "state", "version", "amount")))


def refused(code, command, **kwargs):
    before = snapshot()
    with pytest.raises(Exception) as caught:
        command(**kwargs)
    assert getattr(caught.value, "code", None) == code, caught.value
    assert snapshot() == before, "a refused command changed something"
    return caught.value


@pytest.fixture
def team():
    return make_team(budget="100.00")


def test_approve_refuses_another_organisation(team):
    expense = team.expense(submit=True)
    outsider = MembershipFactory(role="admin")  # an admin, but of another organisation
    refused("not_found", services.expense_approve, actor=outsider, expense_id=expense.pk)


def test_approve_refuses_an_employee(team):
    expense = team.expense(submit=True)
    refused("not_an_approver", services.expense_approve, actor=team.colleague, expense_id=expense.pk)


def test_approve_refuses_own_expense(team):
    expense = team.expense(employee=team.manager, submit=True)
    refused("own_expense", services.expense_approve, actor=team.manager, expense_id=expense.pk)


def test_approve_refuses_a_draft(team):
    expense = team.expense()
    refused("invalid_state", services.expense_approve, actor=team.manager, expense_id=expense.pk)


def test_approve_refuses_an_already_decided_expense_as_a_conflict(team):
    expense = team.expense(submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    refused("conflict", services.expense_approve, actor=team.admin, expense_id=expense.pk)


def test_submit_refuses_missing_receipt_above_threshold(team):
    expense = team.expense(amount="30.00", receipt=False)
    refused("receipt_required", services.expense_submit, actor=team.employee, expense_id=expense.pk)


def test_submit_without_receipt_below_threshold_is_fine(team):
    expense = team.expense(amount="20.00", receipt=False)
    assert services.expense_submit(actor=team.employee, expense_id=expense.pk).state == ExpenseState.SUBMITTED


@pytest.mark.parametrize(("amount", "code"), [
    ("0", "invalid_amount"), ("-5.00", "invalid_amount"), ("12.345", "invalid_amount"), ("abc", "invalid_amount"),
    ("NaN", "invalid_amount"), ("Infinity", "invalid_amount"), (12.5, "invalid_amount"),
    ("10000.01", "amount_too_large"), ("1e9", "amount_too_large"), ("1e30", "amount_too_large"),
    ("1e-30", "invalid_amount"), ("", "invalid_amount"), (None, "invalid_amount"),
])
def test_create_refuses_bad_amounts(team, amount, code):
    data = {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": amount,
            "merchant": "Shop", "incurred_on": team.org.today()}
    refused(code, services.expense_create, actor=team.employee, data=data)


@pytest.mark.clock
def test_create_refuses_the_organisations_tomorrow_and_takes_its_today(team):
    data = {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "5",
            "merchant": "Shop", "incurred_on": team.org.today() + dt.timedelta(days=1)}
    refused("future_date", services.expense_create, actor=team.employee, data=data)
    today = services.expense_create(actor=team.employee, data={**data, "incurred_on": team.org.today()})
    assert today.incurred_on == team.org.today()


@pytest.mark.clock
def test_create_refuses_a_date_one_day_older_than_the_window(team):
    oldest = team.org.today() - dt.timedelta(days=team.org.expense_window_days)
    data = {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "5",
            "merchant": "Shop", "incurred_on": oldest - dt.timedelta(days=1)}
    refused("too_old", services.expense_create, actor=team.employee, data=data)
    assert services.expense_create(actor=team.employee, data={**data, "incurred_on": oldest}).incurred_on == oldest


def test_create_refuses_another_organisations_cost_centre(team):
    other = make_team()
    data = {"cost_center_id": other.cost_center.pk, "category_id": team.category.pk, "amount": "5",
            "merchant": "Shop", "incurred_on": team.org.today()}
    refused("invalid", services.expense_create, actor=team.employee, data=data)


def test_create_refuses_a_receipt_that_is_not_an_image_or_pdf(team):
    data = {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "5",
            "merchant": "Shop", "incurred_on": team.org.today()}
    before = snapshot()
    with pytest.raises(Exception) as caught:
        services.expense_create(actor=team.employee, data=data,
                                receipt=receipt_file("evil.png", b"<?php system($_GET['x']); ?>"))
    assert caught.value.code == "invalid_receipt" and snapshot() == before


def test_approve_refuses_insufficient_budget_with_the_remaining_amount(team):
    first = team.expense(amount="70.00", submit=True)
    second = team.expense(employee=team.colleague, amount="40.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=first.pk)

    error = refused("insufficient_budget", services.expense_approve, actor=team.manager, expense_id=second.pk)

    assert error.http_status == 409
    assert error.details["remaining"] == "30.00" and error.details["currency"] == "EUR"
    assert Expense.objects.get(pk=second.pk).state == ExpenseState.SUBMITTED


def test_reject_refuses_a_missing_reason(team):
    expense = team.expense(submit=True)
    refused("reason_required", services.expense_reject, actor=team.manager, expense_id=expense.pk, reason="  ")


def test_only_the_employee_submits_edits_and_withdraws(team):
    expense = team.expense()
    refused("not_owner", services.expense_submit, actor=team.manager, expense_id=expense.pk)
    refused("not_owner", services.expense_update, actor=team.colleague, expense_id=expense.pk,
            data={"amount": "1.00"})
    services.expense_submit(actor=team.employee, expense_id=expense.pk)
    refused("not_owner", services.expense_withdraw, actor=team.manager, expense_id=expense.pk)


def test_editing_is_only_possible_in_draft(team):
    expense = team.expense(submit=True)
    refused("invalid_state", services.expense_update, actor=team.employee, expense_id=expense.pk,
            data={"amount": "1.00"})


def test_a_stale_version_is_a_conflict(team):
    expense = team.expense()
    services.expense_update(actor=team.employee, expense_id=expense.pk, data={"merchant": "New"})
    refused("conflict", services.expense_submit, actor=team.employee, expense_id=expense.pk,
            expected_version=expense.version)


def test_malformed_expense_id_is_not_found(team):
    refused("not_found", services.expense_approve, actor=team.manager, expense_id="not-a-uuid")


def test_withdraw_returns_to_draft_and_publishes(team):
    expense = team.expense(submit=True)
    services.expense_withdraw(actor=team.employee, expense_id=expense.pk)
    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.DRAFT
    assert list(Event.objects.order_by("sequence").values_list("type", flat=True)) == [
        "expense.submitted", "expense.withdrawn"]
    assert Decimal(Event.objects.get(type="expense.withdrawn").payload["amount"]) == Decimal("40.00")


@pytest.mark.parametrize("command", ["update", "submit", "withdraw", "approve", "reject"])
def test_every_command_refuses_another_organisations_expense_as_not_found(team, command):
    expense = team.expense(submit=command in ("withdraw", "approve", "reject"))
    outsider = make_team().admin
    kwargs = {"update": {"data": {"merchant": "X"}}, "reject": {"reason": "no"}}.get(command, {})
    error = refused("not_found", getattr(services, f"expense_{command}"), actor=outsider, expense_id=expense.pk,
                    **kwargs)
    assert error.http_status == 404


def test_reject_refuses_an_employee_own_expense_a_draft_and_a_decided_expense(team):
    submitted = team.expense(submit=True)
    refused("not_an_approver", services.expense_reject, actor=team.colleague, expense_id=submitted.pk, reason="no")
    own = team.expense(employee=team.manager, submit=True)
    refused("own_expense", services.expense_reject, actor=team.manager, expense_id=own.pk, reason="no")
    draft = team.expense()
    refused("invalid_state", services.expense_reject, actor=team.manager, expense_id=draft.pk, reason="no")
    services.expense_reject(actor=team.manager, expense_id=submitted.pk, reason="no")
    refused("conflict", services.expense_reject, actor=team.admin, expense_id=submitted.pk, reason="again")


def test_withdraw_refuses_a_draft_and_submit_refuses_a_submitted_expense(team):
    draft = team.expense()
    refused("invalid_state", services.expense_withdraw, actor=team.employee, expense_id=draft.pk)
    submitted = team.expense(submit=True)
    refused("invalid_state", services.expense_submit, actor=team.employee, expense_id=submitted.pk)


def test_refusals_carry_their_http_status(team):
    expense = team.expense(submit=True)
    assert refused("not_an_approver", services.expense_approve, actor=team.colleague,
                   expense_id=expense.pk).http_status == 403
    assert refused("own_expense", services.expense_approve, actor=team.employee,
                   expense_id=expense.pk).http_status == 403
    assert refused("invalid_state", services.expense_update, actor=team.employee, expense_id=expense.pk,
                   data={}).http_status == 409
    assert refused("reason_required", services.expense_reject, actor=team.manager, expense_id=expense.pk,
                   reason="").http_status == 400
