"""The policy screens in a real browser: the duplicate warning and its confirmation, an admin's
rule that flags an expense for the approver, automatic approval, delegation from naming the
delegate to their approval on the manager's behalf, and the digest preference."""

from __future__ import annotations

import datetime as dt

import pytest

from expenses.models import Approval, CategoryRule, Delegation, Expense, PolicyVersion
from expenses.tests.factories import make_team
from notifications.models import Kind, NotificationPreference
from organizations.models import Role
from organizations.tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def fill_expense(page, team, amount: str, *, days_ago: int = 1) -> None:
    page.goto("/expenses/new/")
    page.fill("#id_merchant", "Taxi Berlin")
    page.fill("#id_amount", amount)
    page.fill("#id_incurred_on", (team.org.today() - dt.timedelta(days=days_ago)).isoformat())
    page.select_option("#id_cost_center_id", str(team.cost_center.pk))
    page.select_option("#id_category_id", str(team.category.pk))


def test_a_possible_duplicate_is_shown_with_its_twin_and_submitted_once_confirmed(login):
    team = make_team()
    first = team.expense(amount="22.00", submit=True, receipt=False)
    page = login(team.employee)

    fill_expense(page, team, "22.00", days_ago=0)  # the same day as the first one
    page.click("button[name=submit]")

    warning = page.locator("#duplicate-check")
    warning.wait_for(timeout=5000)
    assert "already claimed" in warning.inner_text()
    assert page.locator(f"#duplicate-check a[href='/expenses/{first.pk}/']").count() == 1
    assert Expense.objects.count() == 1  # nothing saved yet: the employee stays on the form

    page.click("button.primary")  # the one choice: "It is not a duplicate: submit"
    page.wait_for_selector("#expense-status [data-state='submitted']", timeout=5000)
    twin = Expense.objects.exclude(pk=first.pk).get()
    assert twin.state == "submitted" and twin.duplicate_confirmed_at is not None

    # the manager sees the flag and a link to the twin
    manager = login(team.manager)
    manager.goto(f"/expenses/{twin.pk}/")
    flag = manager.locator("#policy-flags [data-flag=possible_duplicate]")
    assert "Possible duplicate" in flag.inner_text()
    assert flag.locator(f"a[href='/expenses/{first.pk}/']").count() == 1


def test_an_admin_sets_a_flagging_rule_and_the_approver_sees_the_flag(login):
    team = make_team()
    admin = login(team.admin)
    admin.goto("/policy/")
    row = admin.locator(f"#rule-{team.category.code}")
    row.locator("input[name=max_amount]").fill("30.00")
    row.locator("select[name=on_violation]").select_option("flag")
    row.locator("button", has_text="Save").click()
    admin.wait_for_selector("text=Rule saved", timeout=5000)
    assert CategoryRule.objects.get(category=team.category).on_violation == "flag"
    assert "v1" in admin.locator("#policy-history").inner_text()

    expense = team.expense(amount="45.00", submit=True)
    manager = login(team.manager)
    manager.goto("/approvals/")
    assert "Over the category limit" in manager.locator("table").inner_text()
    manager.goto(f"/expenses/{expense.pk}/")
    assert "may not exceed 30.00" in manager.locator("#policy-flags").inner_text()


def test_an_invalid_rule_shows_the_message_and_changes_nothing(login):
    team = make_team()
    admin = login(team.admin)
    admin.goto("/policy/")
    admin.locator(f"#rule-{team.category.code} input[name=max_amount]").fill("-4")
    admin.locator(f"#rule-{team.category.code} select[name=on_violation]").select_option("block")
    admin.locator(f"#rule-{team.category.code} button", has_text="Save").click()
    alert = admin.locator(".flash.error:not(#live-error)")
    alert.wait_for(timeout=5000)
    assert "'-4' is not an amount" in alert.inner_text() and alert.inner_text().startswith(team.category.name)
    assert not CategoryRule.objects.exists() and not PolicyVersion.objects.exists()


def test_automatic_approval_set_in_the_ui_approves_a_small_expense_on_submit(login):
    team = make_team()
    admin = login(team.admin)
    admin.goto("/policy/")
    admin.fill("#auto-under", "50.00")
    admin.fill("#auto-sample", "0")
    admin.click("#auto-approval button[type=submit]")
    admin.wait_for_selector("text=Automatic approval saved", timeout=5000)

    page = login(team.employee)
    fill_expense(page, team, "12.00")
    page.click("button[name=submit]")
    page.wait_for_selector("text=approved automatically", timeout=5000)
    expense = Expense.objects.get()
    assert expense.state == "approved" and Approval.objects.get(expense=expense).actor_label == "policy"
    page.wait_for_selector("#expense-status [data-state='approved']", timeout=30000)


def test_a_manager_names_a_delegate_who_approves_on_their_behalf(login):
    team = make_team()
    expense = team.expense(submit=True)
    stand_in = MembershipFactory(organization=team.org, role=Role.MANAGER)
    manager = login(team.manager)
    manager.goto("/delegation/")
    offered = manager.locator("#delegate option").evaluate_all("options => options.map(o => o.value)")
    assert str(team.colleague.pk) not in offered and str(team.finance.pk) in offered  # approvers only
    manager.select_option("#delegate", str(stand_in.pk))
    manager.fill("#ends-on", (team.org.today() + dt.timedelta(days=5)).isoformat())
    manager.click("#my-delegation button.primary")
    manager.wait_for_selector("text=Delegate named", timeout=5000)
    assert Delegation.objects.get().delegate_id == stand_in.pk

    delegate = login(stand_in)
    delegate.goto("/approvals/")
    assert "stand in for" in delegate.locator(".note").inner_text()
    delegate.click(f"a[href='/expenses/{expense.pk}/']")
    delegate.click("#approve-button")
    delegate.wait_for_selector("#expense-status [data-state='approved']", timeout=30000)
    delegate.reload()
    assert f"on behalf of {team.manager.display_name}" in delegate.locator(".facts").inner_text()
    assert Approval.objects.get(expense=expense).on_behalf_of_id == team.manager.pk


def test_an_approver_switches_submissions_to_the_daily_digest(login):
    team = make_team()
    page = login(team.manager)
    page.goto("/notifications/")
    page.select_option("select[name='expense_submitted:delivery']", "digest")
    page.click("text=Save preferences")
    page.wait_for_url("**/notifications/")
    assert NotificationPreference.objects.get(user=team.manager.user, kind=Kind.EXPENSE_SUBMITTED).digest is True
    assert page.locator("select[name='expense_submitted:delivery']").input_value() == "digest"
