"""The UI's promises, in a real browser."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from events.models import Event
from expenses.models import Expense
from expenses.tests.factories import make_team

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

WATCH_PROCESSING = """() => {
  window.__marker = "same page";
  window.__clickedAt = null; window.__processingAt = null;
  document.addEventListener("click", () => { window.__clickedAt = performance.now(); }, true);
  new MutationObserver(() => {
    if (window.__processingAt === null && document.querySelector("#expense-status [data-state='processing']")) {
      window.__processingAt = performance.now();
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def _approve_and_watch(page, expense):
    page.goto(f"/expenses/{expense.pk}/")
    page.evaluate(WATCH_PROCESSING)
    page.click("#approve-button")
    page.wait_for_function("window.__processingAt !== null", timeout=5000)
    return page.evaluate("window.__processingAt - window.__clickedAt")


EFFECTS = ["Ledger posted", "Reimbursement queued", "Employee notified", "Audited", "Dashboard updated",
           "Webhooks queued"]


def _assert_approved_with_every_effect(page):
    page.wait_for_selector("#expense-status [data-state='approved']", timeout=30000)
    done = page.locator("#expense-status .effects li.done").all_inner_texts()
    assert len(done) == len(EFFECTS) and all(any(label in text for text in done) for label in EFFECTS), done
    # the timeline below follows without a reload: the approval and its deliveries, all done
    page.wait_for_function("""() => {
        const rows = [...document.querySelectorAll('#timeline li')]
            .filter(li => li.textContent.includes('expense.approved'));
        return rows.length === 1 && rows[0].querySelectorAll('.pill.d-done').length === 6;
    }""", timeout=10000)
    assert page.evaluate("window.__marker") == "same page"  # no reload


def test_manager_approves_processing_at_once_then_approved_with_every_effect(login):
    team = make_team()
    expense = team.expense(submit=True)
    page = login(team.manager)

    delay_ms = _approve_and_watch(page, expense)

    assert delay_ms < 300, f"'processing' appeared {delay_ms:.0f} ms after the click"
    _assert_approved_with_every_effect(page)


@pytest.mark.parametrize("blocked", ["api", "network"])
def test_with_the_websocket_blocked_polling_still_reaches_approved(login, blocked):
    team = make_team()
    expense = team.expense(submit=True)
    page = login(team.manager, block_websocket=blocked)
    frames = []
    page.on("websocket", lambda socket: socket.on("framereceived", frames.append))

    delay_ms = _approve_and_watch(page, expense)

    assert delay_ms < 300, f"'processing' appeared {delay_ms:.0f} ms after the click"
    _assert_approved_with_every_effect(page)
    assert frames == []  # no push reached the page: polling alone did it


def test_insufficient_budget_shows_the_remaining_amount_and_changes_nothing(login):
    from expenses import services

    team = make_team(budget="50.00")
    first = team.expense(amount="40.00", submit=True)
    services.expense_approve(actor=team.manager, expense_id=first.pk)
    second = team.expense(employee=team.colleague, amount="30.00", submit=True)
    page = login(team.manager)

    page.goto(f"/expenses/{second.pk}/")
    page.click("#approve-button")

    alert = page.locator("#decision-error [role=alert]")
    alert.wait_for(timeout=5000)
    assert "Insufficient budget" in alert.inner_text() and "10.00 EUR" in alert.inner_text()
    page.wait_for_selector("#expense-status [data-state='submitted']", timeout=5000)
    page.wait_for_timeout(2000)  # longer than a poll: the message stays, the box still offers the decision
    assert alert.is_visible() and page.locator("#approve-button").is_enabled()
    assert Expense.objects.get(pk=second.pk).state == "submitted"
    assert not Event.objects.filter(aggregate_id=str(second.pk), type="expense.approved").exists()


def test_employee_submits_with_a_receipt_and_the_manager_sees_it_in_the_queue(login):
    team = make_team()
    page = login(team.employee)
    page.goto("/expenses/new/")
    page.fill("#id_merchant", "Taxi Berlin")
    page.fill("#id_amount", "37.20")
    page.fill("#id_incurred_on", (team.org.today() - dt.timedelta(days=1)).isoformat())
    page.select_option("#id_cost_center_id", str(team.cost_center.pk))
    page.select_option("#id_category_id", str(team.category.pk))
    page.set_input_files("#id_receipt", files=[{"name": "taxi.png", "mimeType": "image/png", "buffer": PNG}])
    page.click("button[name=submit]")
    page.wait_for_selector("#expense-status [data-state='submitted']", timeout=10000)
    expense = Expense.objects.get(merchant="Taxi Berlin")
    assert expense.state == "submitted" and expense.receipt_content_type == "image/png"

    manager = login(team.manager)
    manager.goto("/approvals/")
    assert manager.locator("table", has_text="Taxi Berlin").count() == 1
    assert "37.20 EUR" in manager.inner_text("table")


def test_marking_a_notification_read_drops_the_badge_at_once_and_rolls_back_on_refusal(login):
    import uuid

    from notifications.services import notify

    team = make_team()
    with transaction.atomic():
        for title in ("First", "Second", "Third"):
            notify(user_ids=[team.manager.user_id], kind="expense_submitted", title=title, body="", link="/",
                   organization_id=team.org.pk, source_event_id=uuid.uuid4())
    page = login(team.manager)
    page.goto("/notifications/")
    assert page.inner_text("#unread-badge").startswith("3")

    held = []  # hold the server's answer: the badge must drop before it arrives
    page.route("**/notifications/*/read/", lambda route: held.append(route))
    page.locator("form[data-mark-read] button").first.click()
    assert page.evaluate("document.getElementById('unread-badge').dataset.count") == "2"
    assert len(held) == 1
    page.unroute("**/notifications/*/read/")  # lets the held request through
    page.wait_for_function("document.getElementById('unread-badge').dataset.count === '2'", timeout=5000)

    page.route("**/notifications/*/read/", lambda route: route.fulfill(status=500, body="boom"))
    page.locator("form[data-mark-read]:visible button").first.click()
    page.wait_for_selector("#live-error:not([hidden])", timeout=5000)
    assert page.locator("#unread-badge").get_attribute("data-count") == "2"
    assert "Could not mark the notification read" in page.inner_text("#live-error")


def test_another_organisations_expense_is_404_and_its_websocket_group_refused(login):
    team = make_team()
    other = make_team()
    foreign = other.expense(submit=True)
    page = login(team.admin)

    response = page.goto(f"/expenses/{foreign.pk}/")
    assert response.status == 404

    page.goto("/expenses/")
    answer = page.evaluate("""(id) => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/ws/live/`);
        ws.onopen = () => ws.send(JSON.stringify({subscribe: "expense", id}));
        ws.onmessage = (m) => { resolve(JSON.parse(m.data)); ws.close(); };
        setTimeout(() => resolve({type: "timeout"}), 5000);
    })""", str(foreign.pk))
    assert answer == {"type": "refused", "subscribe": "expense", "id": str(foreign.pk)}


def test_an_anonymous_websocket_is_refused(browser, stack):
    context = browser.new_context(base_url=stack.url)
    page = context.new_page()
    page.goto("/login/")
    closed = page.evaluate("""() => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/ws/live/`);
        ws.onopen = () => resolve("open");
        ws.onclose = (e) => resolve("closed");
        setTimeout(() => resolve("timeout"), 5000);
    })""")
    context.close()
    assert closed == "closed"


def test_every_page_runs_under_the_content_security_policy_without_a_violation_or_error(login):
    from expenses import services

    team = make_team()
    expense = team.expense(submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    team.expense(employee=team.colleague, submit=True)
    page = login(team.admin)
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.add_init_script("""document.addEventListener("securitypolicyviolation",
        (e) => console.error(`CSP ${e.violatedDirective} blocked ${e.blockedURI}`));""")

    for path in ["/expenses/", "/expenses/new/", "/approvals/", "/dashboard/", f"/expenses/{expense.pk}/",
                 "/finance/reimbursements/", "/finance/batches/", "/finance/trial-balance/", "/ops/",
                 "/ops/catalogue/", "/notifications/", "/policy/", "/delegation/"]:
        response = page.goto(path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof window.htmx") == "object", path

    assert problems == []
