"""The expense's thread on its page, and returning an expense with a question. Plain form posts
(they work without JavaScript) that come back to the expense page, at the thread."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound
from expenses import comments

from .base import member_required
from .queue import approver_required


def _back(expense_id, anchor="comments"):
    return redirect(f"{reverse('expense-detail', args=[expense_id])}#{anchor}")


@require_POST
@member_required()
def expense_comment(request, membership, expense_id):
    try:
        comments.comment_add(actor=membership, expense_id=expense_id, body=request.POST.get("body", ""))
    except NotFound:
        raise Http404("No such expense.") from None
    except DomainError as error:
        messages.error(request, error.message)
    return _back(expense_id)


@require_POST
@approver_required
def expense_return(request, membership, expense_id):
    try:
        comments.expense_return(actor=membership, expense_id=expense_id, reason=request.POST.get("reason", ""))
    except NotFound:
        raise Http404("No such expense.") from None
    except DomainError as error:
        messages.error(request, error.message)
        return _back(expense_id, "expense-status")
    messages.success(request, "Returned to the employee with your question. It comes back when they submit again.")
    return _back(expense_id)
