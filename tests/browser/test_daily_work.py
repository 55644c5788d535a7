"""Issue 18's defects, each in a real browser: labels, the finance step, the page after a
decision, the expense form, drafts, duplicates, error pages, focus, the phone layout, the policy
page and paying a batch."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from accounting import services as accounting
from accounting.models import Reimbursement
from events.models import Delivery, DeliveryStatus, Event
from expenses import services
from expenses.models import CategoryRule, Expense
from expenses.tests.factories import make_team
from tests.support.processes import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FOCUSED_ID = "document.activeElement && document.activeElement.id"


def _yesterday(team) -> str:
    return (team.org.today() - dt.timedelta(days=1)).isoformat()


def _fill_expense(page, team, *, merchant="Taxi Berlin", amount="37.20", receipt=True):
    page.fill("#id_merchant", merchant)
    page.fill("#id_amount", amount)
    page.fill("#id_incurred_on", _yesterday(team))
    page.select_option("#id_cost_center_id", str(team.cost_center.pk))
    page.select_option("#id_category_id", str(team.category.pk))
    if receipt:
        page.set_input_files("#id_receipt", files=[{"name": "taxi.png", "mimeType": "image/png", "buffer": PNG}])


def _approved_and_reimbursed(team, **kwargs):
    expense = team.expense(submit=True, **kwargs)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    wait_until(lambda: Reimbursement.objects.filter(expense_id=expense.pk).exists(), message="reimbursement queued")
    return expense


def test_in_batch_reads_in_batch_on_the_list_and_the_expense_page(login):
    team = make_team()
    expense = _approved_and_reimbursed(team)
    accounting.payout_run(organization=team.org)
    page = login(team.employee)

    page.goto("/expenses/")
    assert page.inner_text(f"tr[data-expense='{expense.pk}'] .pill.r-in_batch") == "In batch"
    page.goto(f"/expenses/{expense.pk}/")
    assert page.inner_text("#reimbursement-state") == "In batch"


def test_after_the_manager_approval_everyone_sees_waiting_for_finance_and_only_finance_may_decide(login):
    team = make_team(threshold="1000.00")
    expense = team.expense(amount="1500.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    # while the approval's effects land the status box reads "Processing…" (and polls); this test
    # is about the settled state after them
    wait_until(lambda: not Delivery.objects.filter(event__aggregate_type="expense", event__aggregate_id=str(expense.pk))
               .exclude(status=DeliveryStatus.DONE).exists(), message="the manager approval's effects")

    manager = login(team.manager)
    manager.goto(f"/expenses/{expense.pk}/")
    assert manager.inner_text("#decision-result") == "Waiting for finance"
    assert manager.inner_text("#facts-state") == "Waiting for finance"
    assert manager.locator("#approve-button, #reject-button").count() == 0
    employee = login(team.employee)
    employee.goto("/expenses/")
    assert employee.inner_text(f"tr[data-expense='{expense.pk}'] .state-cell") == "Waiting for finance"
    finance = login(team.finance)
    finance.goto(f"/expenses/{expense.pk}/")
    assert finance.locator("#approve-button").is_visible()


def test_after_approving_the_facts_follow_and_focus_lands_on_the_result(login):
    team = make_team(budget="500.00")
    expense = team.expense(amount="40.00", submit=True)
    page = login(team.manager)
    page.goto(f"/expenses/{expense.pk}/")
    page.evaluate("window.__marker = 'same page'")
    assert "500.00 EUR left" in page.inner_text("#facts")

    page.focus("#approve-button")
    page.keyboard.press("Enter")

    page.wait_for_function("() => document.querySelector('#facts').innerText.includes('460.00 EUR left')",
                           timeout=10000)
    assert "Manager approval" in page.inner_text("#facts")
    assert page.evaluate(FOCUSED_ID) == "decision-result"
    assert page.evaluate("window.__marker") == "same page"


def test_after_rejecting_the_reason_shows_without_a_reload(login):
    team = make_team()
    expense = team.expense(submit=True)
    page = login(team.manager)
    page.goto(f"/expenses/{expense.pk}/")
    page.fill("#reject-reason", "Not a business trip")
    page.click("#reject-button")
    page.wait_for_function("() => document.querySelector('#facts').innerText.includes('Not a business trip')",
                           timeout=10000)
    assert "Rejected because" in page.inner_text("#facts")
    assert page.evaluate(FOCUSED_ID) == "decision-result"


def test_a_refused_decision_puts_focus_on_the_refusal(login):
    team = make_team(budget="30.00")
    expense = team.expense(amount="40.00", submit=True)
    page = login(team.manager)
    page.goto(f"/expenses/{expense.pk}/")
    page.click("#approve-button")
    page.wait_for_selector("#decision-error [role=alert]", timeout=5000)
    assert page.evaluate("document.activeElement.closest('#decision-error') !== null")


def test_a_form_error_is_at_its_field_the_summary_takes_focus_and_the_receipt_is_kept(login):
    team = make_team()
    page = login(team.employee)
    page.goto("/expenses/new/")
    _fill_expense(page, team, amount="abc")
    page.click("button[name=save]")

    page.wait_for_selector("#error-summary")
    assert page.evaluate(FOCUSED_ID) == "error-summary"
    assert "is not an amount" in page.inner_text("#field-amount .field-error")
    assert page.get_attribute("#id_amount", "aria-invalid") == "true"
    assert "taxi.png" in page.inner_text("#pending-receipt")
    assert Expense.objects.count() == 0

    page.fill("#id_amount", "37.20")
    page.click("button[name=save]")  # no file chosen again: the kept one is used
    page.wait_for_selector("#expense-status [data-state='draft']")
    expense = Expense.objects.get()
    assert expense.receipt_content_type == "image/png" and expense.receipt_sha256 == hashlib.sha256(PNG).hexdigest()


def test_save_and_submit_refused_stays_on_the_form_and_leaves_no_draft(login):
    team = make_team()
    page = login(team.employee)
    page.goto("/expenses/new/")
    _fill_expense(page, team, amount="100.00", receipt=False)  # a receipt is required above 25.00
    page.click("button[name=submit]")

    page.wait_for_selector("#error-summary")
    assert "/expenses/new/" in page.url
    assert "receipt is required" in page.inner_text("#field-receipt .field-error")
    assert Expense.objects.count() == 0


def test_an_employee_deletes_a_draft(login):
    team = make_team()
    draft = team.expense()
    page = login(team.employee)
    page.goto(f"/expenses/{draft.pk}/")
    page.click("#delete-draft")
    page.wait_for_url("**/expenses/")
    assert "Draft deleted" in page.inner_text("main")
    assert not Expense.objects.filter(pk=draft.pk).exists()
    assert Event.objects.filter(type="expense.deleted", aggregate_id=str(draft.pk)).count() == 1


def test_editing_a_draft_shows_its_receipt_and_can_submit_it(login):
    team = make_team()
    draft = team.expense()
    page = login(team.employee)
    page.goto(f"/expenses/{draft.pk}/edit/")
    assert "Current receipt" in page.inner_text("#current-receipt")
    page.fill("#id_merchant", "Taxi Hamburg")
    page.click("button[name=submit]")
    page.wait_for_selector("#expense-status [data-state='submitted']")
    draft.refresh_from_db()
    assert (draft.state, draft.merchant, draft.receipt_content_type) == ("submitted", "Taxi Hamburg", "image/png")


def test_a_possible_duplicate_is_a_warning_with_one_clear_choice(login):
    team = make_team()
    # the same day the form fills in: a twin
    first = team.expense(submit=True, merchant="Taxi Berlin", amount="37.20", days_ago=1)
    page = login(team.employee)
    page.goto("/expenses/new/")
    _fill_expense(page, team, merchant="Taxi Berlin", amount="37.20")
    page.click("button[name=submit]")

    page.wait_for_selector("#duplicate-check")
    assert page.evaluate(FOCUSED_ID) == "duplicate-check"
    assert page.locator("button.primary").count() == 1
    background = page.eval_on_selector("#duplicate-check", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(255, 251, 235)"  # the warning colour, not the success green
    assert Expense.objects.count() == 1  # nothing was saved yet
    page.click("button.primary")
    page.wait_for_selector("#expense-status [data-state='submitted']")
    second = Expense.objects.exclude(pk=first.pk).get()
    assert [f["code"] for f in second.flags] == ["possible_duplicate"]


def test_403_and_404_are_styled_pages_with_the_navigation(login):
    team = make_team()
    page = login(team.employee)
    response = page.goto("/approvals/")
    assert response.status == 403
    assert page.get_attribute("#error-page", "data-status") == "403"
    assert page.locator("nav[aria-label=Main] a").count() >= 2
    response = page.goto("/no-such-page/")
    assert response.status == 404
    assert page.get_attribute("#error-page", "data-status") == "404"
    assert page.locator("link[rel=stylesheet]").count() == 1


def test_employees_read_plain_progress_and_approvers_the_technical_timeline(login):
    team = make_team()
    expense = team.expense(submit=True)
    employee = login(team.employee)
    employee.goto(f"/expenses/{expense.pk}/")
    text = employee.inner_text("#timeline")
    assert "Submitted for approval" in text
    assert "correlation" not in text and "notifications." not in text and " ms" not in text
    manager = login(team.manager)
    manager.goto(f"/expenses/{expense.pk}/")
    assert "correlation" in manager.inner_text("#timeline")


def test_at_390_px_lists_are_cards_with_amount_and_state_in_view_and_the_navigation_fits(login):
    team = make_team()
    expense = team.expense(submit=True, merchant="A merchant with a rather long name for a phone")
    for member, path, row in [(team.employee, "/expenses/", f"tr[data-expense='{expense.pk}']"),
                              (team.manager, "/approvals/", f"tr[data-expense='{expense.pk}']")]:
        page = login(member, width=390, height=844)
        page.goto(path)
        geometry = page.evaluate("""(row) => {
            const box = (sel) => document.querySelector(sel).getBoundingClientRect();
            const links = [...document.querySelectorAll('nav[aria-label=Main] a')].map(a => a.getBoundingClientRect());
            return {page: document.documentElement.scrollWidth, amount: box(row + ' .amount-cell'),
                    state: box(row + ' .state-cell'), nav: Math.max(...links.map(r => r.right))};
        }""", row)
        assert geometry["page"] <= 390, (path, geometry)
        for cell in ("amount", "state"):
            assert geometry[cell]["left"] >= 0 and geometry[cell]["right"] <= 390, (path, cell, geometry)
        assert geometry["nav"] <= 390, (path, geometry)


def test_policy_page_shows_the_whole_select_no_preselected_block_and_names_the_category(login):
    team = make_team()
    page = login(team.admin)
    page.goto("/policy/")
    row = f"#rule-{team.category.code}"
    select = f"{row} select[name=on_violation]"
    assert page.input_value(select) == ""  # no rule: nothing chosen for the admin
    fits = page.eval_on_selector(select, """s => {
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = getComputedStyle(s).font;
        const widest = Math.max(...[...s.options].map(o => ctx.measureText(o.text).width));
        return widest + 24 <= s.getBoundingClientRect().width;
    }""")
    assert fits
    page.fill(f"{row} input[name=max_amount]", "abc")
    page.select_option(select, "flag")
    page.click(f"{row} button[type=submit]")
    page.wait_for_selector(".flash.error")
    assert page.inner_text(".flash.error").startswith(f"{team.category.name}: ")


def test_confirm_paid_asks_first_with_the_total(login):
    team = make_team()
    _approved_and_reimbursed(team, amount="40.00")
    batch = accounting.payout_run(organization=team.org)
    page = login(team.finance)
    page.goto("/finance/batches/")
    page.click(f"a[href='/finance/batches/{batch.pk}/confirm/']")
    assert "40.00 EUR" in page.inner_text("#batch-total")
    batch.refresh_from_db()
    assert batch.state == "open"  # asking changed nothing
    page.click("#confirm-paid")
    page.wait_for_selector("text=Batch confirmed as paid")
    batch.refresh_from_db()
    assert batch.state == "confirmed"


def test_filters_give_a_shareable_url_that_shows_the_same_list(login):
    team = make_team()
    team.expense(merchant="Taxi Berlin", amount="30.00")
    team.expense(merchant="Hotel", amount="90.00")
    page = login(team.employee)
    page.goto("/expenses/")
    page.fill("#id_q", "taxi")
    page.select_option("#sort", "-amount")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/expenses/?*q=taxi*")
    assert page.locator("#expense-table td.title").all_inner_texts() == ["Taxi Berlin"]
    shared = login(team.employee)
    shared.goto(page.url)  # the same URL, another window: the same list, the form filled in
    assert shared.locator("#expense-table tbody tr").count() == 1
    assert shared.input_value("#id_q") == "taxi"


def test_a_berlin_organisation_types_1_comma_50_and_reads_its_dates_the_german_way(login):
    from organizations.tests.factories import OrganizationFactory

    team = make_team(org=OrganizationFactory(locale="de_DE", time_zone="Europe/Berlin"))
    page = login(team.employee)
    page.goto("/expenses/new/")
    assert "12,50" in page.inner_text("#field-amount")
    _fill_expense(page, team, merchant="Bäckerei", amount="1,50", receipt=False)
    page.click("button[name=save]")
    page.wait_for_selector("#expense-status [data-state='draft']")
    expense = Expense.objects.get()
    assert expense.amount == Decimal("1.50") and expense.currency == team.org.currency
    assert page.inner_text("h1 .amount") == "1,50 EUR"
    page.goto("/expenses/")
    assert page.inner_text(f"tr[data-expense='{expense.pk}'] td[data-label=Date]") == \
        expense.incurred_on.strftime("%d.%m.%Y")


def test_a_berlin_admin_types_1_comma_50_on_the_policy_page_and_1_point_50_is_refused(login):
    from organizations.tests.factories import OrganizationFactory

    team = make_team(org=OrganizationFactory(locale="de_DE", time_zone="Europe/Berlin"))
    page = login(team.admin)
    page.goto("/policy/")
    row = f"#rule-{team.category.code}"
    page.fill(f"{row} input[name=max_amount]", "1.50")  # London's way, in Berlin
    page.select_option(f"{row} select[name=on_violation]", "flag")
    page.click(f"{row} button[type=submit]")
    alert = page.locator(".flash.error:not(#live-error)")
    alert.wait_for()
    assert alert.inner_text() == (f"{team.category.name}: Maximum per expense: '1.50' is not an amount; "
                                  "write it like 12,50.")
    assert not CategoryRule.objects.exists()
    page.fill(f"{row} input[name=max_amount]", "1,50")
    page.select_option(f"{row} select[name=on_violation]", "flag")
    page.click(f"{row} button[type=submit]")
    page.wait_for_selector("text=Rule saved")
    assert CategoryRule.objects.get().max_amount == Decimal("1.50")
    assert page.input_value(f"{row} input[name=max_amount]") == "1,50"
