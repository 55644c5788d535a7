"""The approval queue: the expenses waiting for the caller, oldest first, with checkboxes to
approve or reject several at once (one reason for all). Each goes through the one command with
its own checks; the page then lists what was decided and what was refused, and why."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_POST

from core.errors import DomainError
from expenses import bulk, queries
from expenses.delegation import active_delegators, may_approve
from expenses.models import Expense

from .base import member_required
from .filtering import filter_expenses


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
    waiting = queries.awaiting_my_approval(membership, delegators=delegators).prefetch_related("approvals")
    context = filter_expenses(request, membership, waiting, default_sort="submitted", people=True)
    # as a manager opens it, unfiltered and oldest first: one statement (queries.approval_queue)
    unfiltered = not context["filtered"] and context["sort"] == "submitted"
    expenses = queries.approval_queue(membership, delegators=delegators) if unfiltered else context["items"]
    return render(request, "expenses/queue.html", {
        **context, "expenses": expenses, "delegators": delegators, "outcome": outcome, "bulk_error": error,
        "reason": request.POST.get("reason", "") if error else ""}, status=status)


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
