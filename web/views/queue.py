"""The approval queue: the expenses waiting for the caller, oldest first, with checkboxes to
approve or reject several at once (one reason for all). Each goes through the one command with
its own checks; the page then lists what was decided and what was refused, and why."""

from __future__ import annotations

from functools import wraps
from html import escape

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
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
    if as_it_opens(request, sorts=SORTS, default_sort="submitted"):
        # as a manager opens it, unfiltered and oldest first: one statement that also probes for a
        # delegation (queries.queue_and_delegators), and the filter set only draws the form
        # (building the queryset it would filter cost 2 ms)
        context = filter_expenses(request, membership, Expense.objects.none(), default_sort="submitted", people=True)
        expenses, delegators = queries.queue_and_delegators(membership)
    else:
        delegators = active_delegators(membership)
        waiting = queries.awaiting_my_approval(membership, delegators=delegators).prefetch_related("approvals")
        context = filter_expenses(request, membership, waiting, default_sort="submitted", people=True)
        expenses = context["items"]
    return render(request, "expenses/queue.html", {
        **context, "expenses": expenses, "rows": queue_rows(expenses, membership.organization),
        "delegators": delegators, "outcome": outcome, "bulk_error": error,
        "reason": request.POST.get("reason", "") if error else ""}, status=status)


def queue_rows(expenses, organization) -> list[SafeString]:
    """The queue's table rows as HTML, every value written out and escaped here: the 20-row body
    cost 1.7 ms through the template's loop, each of its 17 values a variable node. Each text is
    escaped as ``django.utils.html.escape`` escapes it (``html.escape``, quotes too) without its
    lazy-string check, which cost more than the escaping (the rows 1.9 → 0.9 ms, scratch timeit
    on bench/read_set.py's queue). The cells are ``_ROW``'s; the table around them is
    ``expenses/queue.html``'s, and ``web/tests/test_queue_rows.py`` pins both."""
    locale, currency = organization.locale or DEFAULT_LOCALE, organization.currency
    link = reverse("expense-detail", args=[_ANY_ID])  # reversed once: the pattern takes any UUID
    rows = []
    for e in expenses:
        conversion = (f'<br><small class="conversion">{escape(e.conversion_text)}</small>'
                      if e.currency != e.org_currency else "")
        policy = "".join(f'<span class="pill flag" title="{_text(flag.get("message"))}">'
                         f'{_text(flag.get("label"))}</span> ' for flag in e.flags or ())
        if e.policy_outcome == "sampled":
            policy += _SAMPLED
        pk = str(e.pk)
        rows.append(mark_safe(_ROW.format(  # noqa: S308 (every value is escaped text or markup built here)
            pk=pk, merchant=escape(e.merchant), employee=escape(e.employee.display_name),
            url=escape(link.replace(_ANY_ID, pk)), cost_center=escape(e.cost_center.code),
            amount=escape(format_amount(e.amount, e.currency, locale)), conversion=conversion,
            submitted=timezone.localtime(e.submitted_at).strftime("%Y-%m-%d %H:%M") if e.submitted_at else "",
            budget=escape(format_amount(e.remaining_budget, currency, locale)),
            warn=" warn" if e.remaining_budget < e.org_amount else "", state=escape(e.state),
            finance=" awaiting-finance" if e.awaiting == ApprovalStep.FINANCE else "",
            state_label=escape(str(e.state_label)), policy=policy)))
    return rows


def _text(value) -> str:
    """A flag's text escaped; a missing one (an old or hand-edited row) is empty, never a 500."""
    return "" if value is None else escape(str(value))


_ROW = """<tr data-expense="{pk}">
    <td class="select-cell"><input type="checkbox" name="ids" value="{pk}" id="pick-{pk}" aria-label="Select {merchant}, {employee}, {amount}"></td>
    <td data-label="Submitted">{submitted}</td><td data-label="Employee">{employee}</td>
    <td data-label="Merchant" class="title"><a href="{url}">{merchant}</a></td><td data-label="Cost centre">{cost_center}</td>
    <td data-label="Amount" class="num amount-cell">{amount}{conversion}</td>
    <td data-label="Budget left" class="num{warn}">{budget}</td>
    <td data-label="State" class="state-cell"><span class="pill {state}{finance}">{state_label}</span></td>
    <td data-label="Policy">{policy}</td>
  </tr>
"""  # noqa: E501 (the table's row as the template had it)
_ANY_ID = "00000000-0000-0000-0000-000000000000"
_SAMPLED = '<span class="pill sampled" title="Picked for a random check">Random check</span>'


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
