"""Pages for employees and managers: my expenses, the form, the detail with its live status,
the approval queue and the dashboard."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounting.queries import reimbursement_states
from core.errors import DomainError, NotFound
from events.queries import timeline
from expenses import queries, services
from expenses.models import ExpenseState
from web.forms import ExpenseForm, RejectForm

from .base import APPROVERS, member_required

# The side effects of an approval, in the order the page lists them.
APPROVAL_EFFECTS = [
    ("accounting.post_approved_expense", "Ledger posted"),
    ("accounting.queue_reimbursement", "Reimbursement queued"),
    ("notifications.expense_approved", "Employee notified"),
    ("audit.record", "Audited"),
]


def _detail(membership, expense_id):
    try:
        return queries.expense_detail(membership, expense_id)
    except NotFound:
        raise Http404("No such expense.") from None


@member_required()
def expense_list(request, membership):
    expenses = list(queries.my_expenses(membership))
    states = reimbursement_states(membership.organization_id, [e.pk for e in expenses if e.state == "approved"])
    for expense in expenses:
        expense.reimbursement_state = states.get(expense.pk, "")
    return render(request, "expenses/list.html", {"expenses": expenses})


def _form_data(form) -> dict:
    data = {k: v for k, v in form.cleaned_data.items() if k != "receipt"}
    return data


@member_required()
def expense_create(request, membership):
    form = ExpenseForm(request.POST or None, request.FILES or None, membership=membership)
    if request.method == "POST" and form.is_valid():
        try:
            expense = services.expense_create(actor=membership, data=_form_data(form),
                                              receipt=form.cleaned_data.get("receipt"))
        except DomainError as error:
            form.add_error(error.details.get("field") if error.details.get("field") in form.fields else None,
                           error.message)
        else:
            if "submit" in request.POST:
                return _submit_and_redirect(request, membership, expense)
            messages.success(request, "Draft saved.")
            return redirect("expense-detail", expense_id=expense.pk)
    return render(request, "expenses/form.html", {"form": form, "title": "New expense"})


@member_required()
def expense_edit(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    if expense.employee_id != membership.pk or expense.state != ExpenseState.DRAFT:
        raise PermissionDenied("Only your own drafts can be edited.")
    initial = {"merchant": expense.merchant, "amount": expense.amount, "incurred_on": expense.incurred_on,
               "cost_center_id": expense.cost_center_id, "category_id": expense.category_id,
               "description": expense.description}
    form = ExpenseForm(request.POST or None, request.FILES or None, membership=membership, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.expense_update(actor=membership, expense_id=expense.pk, data=_form_data(form),
                                    receipt=form.cleaned_data.get("receipt"),
                                    expected_version=request.POST.get("version") or None)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Draft saved.")
            return redirect("expense-detail", expense_id=expense.pk)
    return render(request, "expenses/form.html", {"form": form, "title": "Edit draft", "expense": expense})


def _submit_and_redirect(request, membership, expense):
    try:
        services.expense_submit(actor=membership, expense_id=expense.pk)
        messages.success(request, "Submitted for approval.")
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("expense-detail", expense_id=expense.pk)


@require_POST
@member_required()
def expense_submit(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    return _submit_and_redirect(request, membership, expense)


@require_POST
@member_required()
def expense_withdraw(request, membership, expense_id):
    try:
        services.expense_withdraw(actor=membership, expense_id=expense_id)
        messages.success(request, "Withdrawn: the expense is a draft again.")
    except NotFound:
        raise Http404("No such expense.") from None
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("expense-detail", expense_id=expense_id)


def status_context(membership, expense, error=None) -> dict:
    """What the live status box shows: the state, each effect of the approval as it lands, and
    whether anything is still processing (then the box polls, and listens for pushes)."""
    entries = timeline(organization_id=expense.organization_id, aggregate_type="expense",
                       aggregate_id=str(expense.pk))
    processing = any(not entry.settled for entry in entries)
    effects = []
    approved = next((e for e in reversed(entries) if e.event.type == "expense.approved"), None)
    if approved is not None:
        done = {line.subscriber: line for line in approved.deliveries}
        for subscriber, label in APPROVAL_EFFECTS:
            line = done.get(subscriber)
            effects.append({"label": label, "done": bool(line and line.status == "done"),
                            "failed": bool(line and line.status == "dead"),
                            "retrying": bool(line and line.attempts > 1 and line.status != "done")})
    return {"expense": expense, "processing": processing, "effects": effects, "error": error,
            "can_decide": _can_decide(membership, expense)}


def _can_decide(membership, expense) -> bool:
    return (expense.state == ExpenseState.SUBMITTED and expense.employee_id != membership.pk
            and membership.role in APPROVERS)


@member_required()
def expense_detail(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    states = reimbursement_states(membership.organization_id, [expense.pk])
    context = status_context(membership, expense)
    context.update({
        "reimbursement_state": states.get(expense.pk, ""),
        "timeline": timeline(organization_id=expense.organization_id, aggregate_type="expense",
                             aggregate_id=str(expense.pk)),
        "is_owner": expense.employee_id == membership.pk,
        "reject_form": RejectForm(),
        "remaining_budget": services.remaining_budget(expense.cost_center, expense.month),
    })
    return render(request, "expenses/detail.html", context)


@require_GET
@member_required()
def expense_status(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    return render(request, "expenses/_status.html", status_context(membership, expense))


@require_GET
@member_required()
def expense_timeline(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    entries = timeline(organization_id=expense.organization_id, aggregate_type="expense", aggregate_id=str(expense.pk))
    return render(request, "expenses/_timeline.html", {"timeline": entries, "expense": expense})


def _decide(request, membership, expense_id, command, **kwargs):
    """Run approve/reject. htmx gets the status box back (with the refusal inline); a plain form
    post is redirected to the page with a message (works without JavaScript)."""
    error = None
    try:
        command(actor=membership, expense_id=expense_id, **kwargs)
    except NotFound:
        raise Http404("No such expense.") from None
    except DomainError as exc:
        error = exc
    if request.htmx:
        expense = _detail(membership, expense_id)
        return render(request, "expenses/_status.html", status_context(membership, expense, error=error))
    if error is not None:
        messages.error(request, error.message)
    return redirect("expense-detail", expense_id=expense_id)


@require_POST
@member_required(*APPROVERS)
def expense_approve(request, membership, expense_id):
    return _decide(request, membership, expense_id, services.expense_approve)


@require_POST
@member_required(*APPROVERS)
def expense_reject(request, membership, expense_id):
    return _decide(request, membership, expense_id, services.expense_reject, reason=request.POST.get("reason", ""))


@require_GET
@member_required()
def expense_receipt(request, membership, expense_id):
    """Serve a receipt to those who may see the expense; never inline-executable."""
    expense = _detail(membership, expense_id)
    if not expense.receipt:
        raise Http404("No receipt.")
    response = FileResponse(expense.receipt.open("rb"), content_type=expense.receipt_content_type)
    extension = expense.receipt.name.rsplit(".", 1)[-1]
    response["Content-Disposition"] = f'attachment; filename="receipt-{expense.pk}.{extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@member_required(*APPROVERS)
def approval_queue(request, membership):
    return render(request, "expenses/queue.html", {"expenses": queries.awaiting_my_approval(membership)})


@member_required(*APPROVERS)
def dashboard(request, membership):
    month = request.GET.get("month", "")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        month = dt.date.today().strftime("%Y-%m")
    rows = queries.expense_summary_by_month(membership.organization_id, month)
    by_cost_center: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        by_cost_center[row.cost_center_code] += row.approved_total
    budgets = queries.budget_usage(membership, month)
    top = max([b["budget"] for b in budgets] + [Decimal("1")])
    bars = [{"code": b["cost_center"].code, "used": b["used"], "budget": b["budget"],
             "width": round(float(b["used"] / top * 380), 1), "budget_width": round(float(b["budget"] / top * 380), 1),
             "y": 10 + i * 36} for i, b in enumerate(budgets)]
    return render(request, "expenses/dashboard.html", {
        "month": month, "rows": rows, "budgets": budgets, "bars": bars, "chart_height": 20 + 36 * len(bars),
        "total": sum((r.approved_total for r in rows), Decimal("0")),
    })


@member_required()
def home(request, membership):
    if membership.role in APPROVERS:
        return redirect(reverse("approval-queue") if membership.role == "manager" else reverse("dashboard"))
    return redirect("expense-list")
