"""The approver's day in a real browser: several decisions at once, the next expense in the
queue, and the receipt beside the decision."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from expenses import services
from expenses.models import Expense
from expenses.tests.factories import make_team

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _png() -> bytes:
    """A real 2x2 PNG (the browser must be able to draw it)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


def test_bulk_approve_with_one_refusal_among_several_says_what_was_refused_and_why(login):
    team = make_team(budget="100.00")
    fine = [team.expense(amount="30.00", submit=True, merchant=f"Fine {i}") for i in range(2)]
    too_much = team.expense(employee=team.colleague, amount="60.00", submit=True, merchant="Too much")
    page = login(team.manager)
    page.goto("/approvals/")
    for expense in [*fine, too_much]:
        page.check(f"#pick-{expense.pk}")
    page.click("#bulk-approve")

    page.wait_for_selector("#bulk-outcome")
    assert page.evaluate("document.activeElement.id") == "bulk-outcome"
    assert page.locator("#bulk-outcome li[data-result=ok]").count() == 2
    refused = page.locator(f"#bulk-outcome li[data-expense='{too_much.pk}']")
    assert refused.get_attribute("data-result") == "insufficient_budget"
    assert "Insufficient budget" in refused.inner_text()
    states = dict(Expense.objects.values_list("merchant", "state"))
    assert states == {"Fine 0": "approved", "Fine 1": "approved", "Too much": "submitted"}
    assert page.locator(f"tr[data-expense='{too_much.pk}']").count() == 1  # still waiting in the queue
    assert page.locator(f"tr[data-expense='{fine[0].pk}']").count() == 0


def test_bulk_reject_without_a_reason_decides_nothing(login):
    team = make_team()
    expense = team.expense(submit=True)
    page = login(team.manager)
    page.goto("/approvals/")
    page.check(f"#pick-{expense.pk}")
    page.click("#bulk-reject")
    page.wait_for_selector("#error-summary[data-code=reason_required]")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert Expense.objects.get(pk=expense.pk).state == "submitted"


def test_after_a_decision_next_in_queue_keeps_the_approvers_place(login):
    team = make_team()
    first = team.expense(submit=True, merchant="First")
    second = team.expense(employee=team.colleague, submit=True, merchant="Second")
    page = login(team.manager)
    page.goto(f"/expenses/{first.pk}/")
    page.click("#approve-button")
    page.wait_for_selector("#next-in-queue")
    page.click("#next-in-queue")
    page.wait_for_url(f"**/expenses/{second.pk}/")
    services.expense_approve(actor=team.manager, expense_id=second.pk)
    page.reload()
    assert page.locator("#queue-empty").count() == 1 and page.locator("#next-in-queue").count() == 0


def test_the_receipt_is_previewed_beside_the_decision_image_inline_and_pdf_sandboxed(login, stack):
    team = make_team()
    image, pdf = team.expense(receipt=False), team.expense(employee=team.colleague, receipt=False)
    for expense, name, content, kind in ((image, "r.png", _png(), "image/png"), (pdf, "r.pdf", PDF, "application/pdf")):
        services.expense_update(actor=expense.employee, expense_id=expense.pk, data={},
                                receipt=SimpleUploadedFile(name, content, kind))
        services.expense_submit(actor=expense.employee, expense_id=expense.pk, confirm_not_duplicate=True)
        stored = Path(stack.media_root, Expense.objects.get(pk=expense.pk).receipt.name)  # where the web reads
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(content)
    page = login(team.manager)

    page.goto(f"/expenses/{image.pk}/")
    page.wait_for_function("() => document.querySelector('#receipt-preview img').naturalWidth === 2")
    assert page.locator("#approve-button").is_visible()
    with page.context.expect_page() as larger:
        page.click("#receipt-preview img")
    assert larger.value.url.endswith(f"/expenses/{image.pk}/receipt/?view=inline")

    page.goto(f"/expenses/{pdf.pk}/")
    frame = page.locator("#receipt-preview iframe")
    assert frame.get_attribute("sandbox") == ""
    headers = page.evaluate("""(src) => fetch(src).then(r => Object.fromEntries(r.headers.entries()))""",
                            frame.get_attribute("src"))
    assert headers["content-type"] == "application/pdf" and headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'none'; sandbox")
    assert headers["content-disposition"].startswith("inline") and headers["x-frame-options"] == "SAMEORIGIN"


def test_return_with_a_question_the_employee_answers_in_the_thread_and_resubmits(login):
    team = make_team()
    expense = team.expense(submit=True, merchant="Taxi")
    manager = login(team.manager)
    manager.goto(f"/expenses/{expense.pk}/")
    manager.fill("#return-question", "Which client was this for?")
    manager.click("#return-button")
    manager.wait_for_selector("text=Returned to the employee")
    assert Expense.objects.get(pk=expense.pk).state == "draft"

    employee = login(team.employee)
    employee.goto(f"/expenses/{expense.pk}/")
    assert "Which client was this for?" in employee.inner_text("#returned-question")
    employee.fill("#comment-body", "ACME, the kick-off meeting")
    employee.click("#comment-button")
    employee.wait_for_selector("#comments li[data-kind=comment]")
    thread = employee.locator("#comments li").all_inner_texts()
    assert len(thread) == 2 and "Which client" in thread[0] and "ACME, the kick-off meeting" in thread[1]
    employee.click("text=Submit for approval")
    employee.wait_for_selector("#expense-status [data-state='submitted']")

    manager.goto(f"/expenses/{expense.pk}/")
    assert "ACME, the kick-off meeting" in manager.inner_text("#comments")
    assert manager.locator("#approve-button").is_visible()
