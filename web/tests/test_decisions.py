"""Approve and reject from the expense page: with htmx the decision panel comes back (the status
box says "processing" at once, refusals sit beside it); without JavaScript the form posts and
redirects. A refusal changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events.models import Delivery, Event
from expenses.models import Approval, Expense
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client_for(client, member):
    client.force_login(member.user)
    return client


def _approve(client, expense, **headers):
    return client.post(reverse("expense-approve", kwargs={"expense_id": expense.pk}), **headers)


def test_htmx_approve_answers_processing_with_each_effect_waiting(client):
    team = make_team()
    expense = team.expense(submit=True)

    response = _approve(_client_for(client, team.manager), expense, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="expense-decision"' in html and 'data-state="processing"' in html
    assert "every 1500ms" in html  # polls while effects are pending
    for label in ("Ledger posted", "Reimbursement queued", "Employee notified", "Audited", "Dashboard updated"):
        assert label in html
    assert 'id="approve-button"' not in html
    assert Expense.objects.get(pk=expense.pk).state == "approved"


def test_status_box_says_approved_and_stops_polling_once_every_effect_landed(client):
    team = make_team()
    expense = team.expense(submit=True)
    _approve(_client_for(client, team.manager), expense, **HTMX)

    run_deliveries()
    response = client.get(reverse("expense-status", kwargs={"expense_id": expense.pk}))

    html = response.content.decode()
    assert 'data-state="approved"' in html and 'data-state="processing"' not in html
    assert html.count('class="effect done"') == 6  # the five effects and the webhooks queued
    assert "every 1500ms" not in html and "live-refresh from:body" in html


def test_a_dead_effect_shows_failed_and_no_longer_holds_the_page_in_processing(client):
    team = make_team()
    expense = team.expense(submit=True)
    _approve(_client_for(client, team.manager), expense, **HTMX)
    run_deliveries()
    approved = Event.objects.get(type="expense.approved", aggregate_id=str(expense.pk))
    Delivery.objects.filter(event=approved, subscriber="accounting.queue_reimbursement").update(status="dead",
                                                                                              done_at=None)

    html = client.get(reverse("expense-status", kwargs={"expense_id": expense.pk})).content.decode()

    assert 'data-state="approved"' in html and "every 1500ms" not in html
    assert 'class="effect dead"' in html and "an admin can replay it" in html


def test_plain_form_approve_redirects_to_the_page_without_javascript(client):
    team = make_team()
    expense = team.expense(submit=True)

    response = _approve(_client_for(client, team.manager), expense)

    assert response.status_code == 302
    assert response["Location"] == reverse("expense-detail", kwargs={"expense_id": expense.pk})
    assert Expense.objects.get(pk=expense.pk).state == "approved"
    page = client.get(response["Location"]).content.decode()
    assert 'data-state="processing"' in page


def test_insufficient_budget_is_shown_beside_the_unchanged_box_and_nothing_is_written(client):
    team = make_team(budget="50.00")
    first = team.expense(amount="40.00", submit=True)
    _approve(_client_for(client, team.manager), first, **HTMX)
    second = team.expense(employee=team.colleague, amount="30.00", submit=True)
    events_before, approvals_before = Event.objects.count(), Approval.objects.count()

    response = _approve(client, second, **HTMX)

    html = response.content.decode()
    assert response.status_code == 409 and response["X-Refusal"] == "insufficient_budget"  # htmx swaps it
    assert 'data-code="insufficient_budget"' in html and "10.00 EUR" in html
    assert html.index('id="decision-error"') < html.index('id="expense-status"')  # outside the polled box
    assert 'data-state="submitted"' in html and 'id="approve-button"' in html
    assert Expense.objects.get(pk=second.pk).state == "submitted"
    assert (Event.objects.count(), Approval.objects.count()) == (events_before, approvals_before)


def test_plain_form_refusal_comes_back_as_a_message_on_the_page(client):
    team = make_team(budget="10.00")
    expense = team.expense(amount="30.00", submit=True)

    response = _approve(_client_for(client, team.manager), expense, follow=True)

    page = response.content.decode()
    assert "Insufficient budget" in page and "10.00 EUR" in page and 'class="flash error"' in page
    assert Expense.objects.get(pk=expense.pk).state == "submitted"


def test_approving_ones_own_expense_is_refused_inline(client):
    team = make_team()
    own = team.expense(employee=team.admin, submit=True)
    events_before = Event.objects.count()

    html = _approve(_client_for(client, team.admin), own, **HTMX).content.decode()

    assert 'data-code="own_expense"' in html
    assert Expense.objects.get(pk=own.pk).state == "submitted" and Event.objects.count() == events_before


def test_approving_an_expense_someone_else_just_decided_is_a_conflict(client):
    team = make_team()
    expense = team.expense(submit=True)
    _approve(_client_for(client, team.manager), expense, **HTMX)
    events_before = Event.objects.count()

    html = _approve(_client_for(client, team.admin), expense, **HTMX).content.decode()

    assert 'data-code="conflict"' in html and "already approved" in html
    assert Event.objects.count() == events_before


def test_reject_with_a_reason_shows_processing_then_rejected(client):
    team = make_team()
    expense = team.expense(submit=True)
    url = reverse("expense-reject", kwargs={"expense_id": expense.pk})

    html = _client_for(client, team.manager).post(url, {"reason": "No receipt for the wine"}, **HTMX).content.decode()
    assert 'data-state="processing"' in html and "Employee notified" in html
    run_deliveries()
    html = client.get(reverse("expense-status", kwargs={"expense_id": expense.pk})).content.decode()

    assert 'data-state="rejected"' in html
    assert Expense.objects.get(pk=expense.pk).rejection_reason == "No receipt for the wine"


def test_reject_without_a_reason_is_refused_and_changes_nothing(client):
    team = make_team()
    expense = team.expense(submit=True)
    url = reverse("expense-reject", kwargs={"expense_id": expense.pk})

    html = _client_for(client, team.manager).post(url, {"reason": "  "}, **HTMX).content.decode()

    assert 'class="flash error"' in html and 'data-state="submitted"' in html
    assert Expense.objects.get(pk=expense.pk).state == "submitted"


def test_an_employee_cannot_post_a_decision(client):
    team = make_team()
    expense = team.expense(employee=team.colleague, submit=True)

    response = _approve(_client_for(client, team.employee), expense, **HTMX)

    assert response.status_code == 403
    assert Expense.objects.get(pk=expense.pk).state == "submitted"


def test_another_organisations_expense_cannot_be_decided(client):
    team, other = make_team(), make_team()
    foreign = other.expense(submit=True)

    response = _approve(_client_for(client, team.manager), foreign, **HTMX)

    assert response.status_code == 404
    assert Expense.objects.get(pk=foreign.pk).state == "submitted"


def test_the_status_box_after_the_manager_step_offers_the_finance_step_only_to_finance(client):
    # given an expense above the threshold whose manager approval is given (finance decides next)
    team = make_team(threshold="100.00")
    expense = team.expense(amount="500.00", submit=True)
    _approve(_client_for(client, team.manager), expense, **HTMX)
    run_deliveries()
    assert Approval.objects.filter(expense=expense).count() == 1
    url = reverse("expense-status", kwargs={"expense_id": expense.pk})

    # then the box, read with its approvals but without their approvers' names, shows the
    # manager no buttons and "waiting for finance", and offers finance the second approval
    manager_html = client.get(url).content.decode()
    assert 'data-awaiting="finance"' in manager_html and 'id="approve-button"' not in manager_html
    finance = _client_for(client.__class__(), team.finance)
    finance_html = finance.get(url).content.decode()
    assert 'data-awaiting="finance"' in finance_html and 'id="approve-button"' in finance_html


def test_next_in_queue_is_the_next_submitted_after_the_decided_one_else_the_oldest(client):
    team = make_team()
    first, second, third = (team.expense(amount=amount, submit=True, merchant=name)
                            for amount, name in (("11.00", "First"), ("12.00", "Second"), ("13.00", "Third")))
    manager = _client_for(client, team.manager)

    def next_after(expense) -> str:
        _approve(manager, expense, **HTMX)
        return manager.get(reverse("expense-status", kwargs={"expense_id": expense.pk})).content.decode()

    assert "Next in queue: Third" in next_after(second)  # the one submitted after it
    assert "Next in queue: First" in next_after(third)   # none after it: the oldest left
    html = next_after(first)
    assert "Next in queue" not in html and 'id="queue-empty"' in html
