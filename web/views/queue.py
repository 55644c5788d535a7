"""The approval queue: the expenses waiting for the caller, oldest first, with checkboxes to
approve or reject several at once (one reason for all). Each goes through the one command with
its own checks; the page then lists what was decided and what was refused, and why."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import DomainError
from expenses import bulk, queries
from expenses.delegation import active_delegators, may_approve
from expenses.filters import SORTS
from expenses.models import ApprovalStep, Expense
from organizations.formats import format_amount
from web.templatetags.formats import DEFAULT_LOCALE

from .base import member_required
from .filtering import as_it_opens, filter_expenses


def approver_required(view):
    """Approvers by role and today's delegates; the command still checks each expense."""
    @member_required()
    @wraps(view)
    def wrapper(request, membership, *args, **kwargs):
        if not may_approve(membership):
            raise PermissionDenied("Your role cannot open this page.")
        return view(request, membership, *args, **kwargs)
    return wrapper


def _queue_page(request, membership, *, outcome=None, error=None, status=200):
    delegators = active_delegators(membership)
    if as_it_opens(request, sorts=SORTS, default_sort="submitted"):
        # as a manager opens it, unfiltered and oldest first: one statement (queries.approval_queue),
        # and the filter set only draws the form (building the queryset it would filter cost 2 ms)
        context = filter_expenses(request, membership, Expense.objects.none(), default_sort="submitted", people=True)
        expenses = queries.approval_queue(membership, delegators=delegators)
    else:
        waiting = queries.awaiting_my_approval(membership, delegators=delegators).prefetch_related("approvals")
        context = filter_expenses(request, membership, waiting, default_sort="submitted", people=True)
        expenses = context["items"]
    return render(request, "expenses/queue.html", {
        **context, "expenses": expenses, "rows": queue_rows(expenses, membership.organization),
        "delegators": delegators, "outcome": outcome, "bulk_error": error,
        "reason": request.POST.get("reason", "") if error else ""}, status=status)


def queue_rows(expenses, organization) -> list[dict]:
    """The queue's rows as the table shows them, every value already written out: the template
    then only reads dictionaries, where each model attribute it followed cost it a failed item
    lookup first (the 20-row table rendered in 9 ms; bench/profile_reads.py)."""
    locale, currency = organization.locale or DEFAULT_LOCALE, organization.currency
    rows = []
    for e in expenses:
        amount = format_amount(e.amount, e.currency, locale)
        rows.append({
            "pk": e.pk, "merchant": e.merchant, "employee": e.employee.display_name,
            "url": reverse("expense-detail", args=[e.pk]), "cost_center": e.cost_center.code,
            "submitted": timezone.localtime(e.submitted_at).strftime("%Y-%m-%d %H:%M") if e.submitted_at else "",
            "amount": amount, "conversion": e.conversion_text if e.currency != e.org_currency else "",
            "budget": format_amount(e.remaining_budget, currency, locale),
            "budget_short": e.remaining_budget < e.org_amount,
            "state": e.state, "state_label": e.state_label, "awaiting_finance": e.awaiting == ApprovalStep.FINANCE,
            "flags": e.flags, "sampled": e.policy_outcome == "sampled",
        })
    return rows


@approver_required
def approval_queue(request, membership):
    return _queue_page(request, membership)


@require_POST
@approver_required
def approval_queue_decide(request, membership):
    """Approve or reject the ticked expenses. A refused request (none ticked, no reason) decides
    nothing and keeps what was typed."""
    ids = request.POST.getlist("ids")
    try:
        if request.POST.get("decision") == "reject":
            results = bulk.expense_bulk_reject(actor=membership, ids=ids, reason=request.POST.get("reason", ""))
            verb = "Rejected"
        else:
            results = bulk.expense_bulk_approve(actor=membership, ids=ids)
            verb = "Approved"
    except DomainError as error:
        return _queue_page(request, membership, error=error, status=400)
    names = {str(e.pk): e for e in Expense.objects.filter(organization_id=membership.organization_id,
                                                         pk__in=[r.id for r in results])
             .select_related("employee__user", "organization")}
    rows = [{"result": r, "expense": names.get(r.id)} for r in results]
    outcome = {"verb": verb, "done": [row for row in rows if row["result"].ok],
               "refused": [row for row in rows if not row["result"].ok]}
    return _queue_page(request, membership, outcome=outcome)
