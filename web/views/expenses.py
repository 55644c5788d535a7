"""Pages for employees and managers: my expenses, the form, the detail with its live status,
and the approval queue (the dashboard is in dashboard.py)."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounting.models import ReimbursementState
from accounting.queries import reimbursement_state, reimbursement_states
from core.errors import DomainError, NotFound
from events.models import DeliveryStatus
from events.queries import timeline
from events.registry import get_subscriber
from expenses import queries, services
from expenses.delegation import may_approve
from expenses.errors import PossibleDuplicate
from expenses.events import ExpenseApprovalRecorded, ExpenseApproved, ExpenseRejected, ExpenseReturned
from expenses.models import CommentKind, ExpenseState, PolicyOutcome
from expenses.policy import duplicate_twins
from organizations.models import Role

from .base import APPROVERS, member_required, run_command
from .filtering import filter_expenses
from .queue import approver_required

# Events that answer a manager's decision: while their effects land, the page says "processing".
DECISION_EVENTS = (ExpenseApproved.type, ExpenseApprovalRecorded.type, ExpenseRejected.type, ExpenseReturned.type)
UNSETTLED = (DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)


def _detail(membership, expense_id, *, approver_names: bool = True, budget: bool = False):
    try:
        return queries.expense_detail(membership, expense_id, approver_names=approver_names, budget=budget)
    except NotFound:
        raise Http404("No such expense.") from None


@member_required()
def expense_list(request, membership):
    context = filter_expenses(request, membership, queries.my_expenses(membership).prefetch_related("approvals"),
                              default_sort="-date")
    expenses = list(context["items"][:500])
    with_reimbursement_states(membership, expenses)
    return render(request, "expenses/list.html", {**context, "expenses": expenses})


def with_reimbursement_states(membership, expenses) -> None:
    """Each approved expense gets its reimbursement's state and the state's label."""
    approved = [e.pk for e in expenses if e.state == ExpenseState.APPROVED]
    states = reimbursement_states(membership.organization_id, approved)
    for expense in expenses:
        expense.reimbursement_state = states.get(expense.pk, "")
        expense.reimbursement_label = reimbursement_label(expense.reimbursement_state)


def reimbursement_label(state: str) -> str:
    return ReimbursementState(state).label if state in ReimbursementState.values else ""


SUBMITTED_MESSAGES = {
    PolicyOutcome.AUTO_APPROVED: "Submitted and approved automatically by your organisation's policy.",
    PolicyOutcome.SAMPLED: "Submitted for approval (picked for a random check by your manager).",
}


def submitted_message(expense) -> str:
    return SUBMITTED_MESSAGES.get(expense.policy_outcome, "Submitted for approval.")


def _submit_and_redirect(request, membership, expense):
    """Submit; a possible duplicate sends the employee back to the page, which shows the look-alike
    expenses and asks them to confirm "not a duplicate" (a warning, never a silent block)."""
    submitted, error = run_command(
        request, services.expense_submit, show_error=False, actor=membership, expense_id=expense.pk,
        confirm_not_duplicate=request.POST.get("confirm_not_duplicate") == "1")
    if isinstance(error, PossibleDuplicate):
        messages.warning(request, error.message)
        return redirect(f"{reverse('expense-detail', args=[expense.pk])}?check=duplicate")
    if error is not None:
        messages.error(request, error.message)
    else:
        messages.success(request, submitted_message(submitted))
    return redirect("expense-detail", expense_id=expense.pk)


@require_POST
@member_required()
def expense_submit(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    return _submit_and_redirect(request, membership, expense)


@require_POST
@member_required()
def expense_withdraw(request, membership, expense_id):
    run_command(request, services.expense_withdraw, success="Withdrawn: the expense is a draft again.",
                actor=membership, expense_id=expense_id)
    return redirect("expense-detail", expense_id=expense_id)


def status_context(membership, expense, error=None, entries=None) -> dict:
    """What the live status box shows. After a decision its effects are listed as they land and
    the state reads "processing" until none is pending or in flight; then the expense's state
    (a dead effect is shown as failed, for an admin to replay, and no longer holds the page)."""
    if entries is None:
        entries = _timeline(expense, attempts=False)  # the box shows statuses, not the attempts
    in_progress = any(line.status in UNSETTLED for entry in entries for line in entry.deliveries)
    decision = next((e for e in reversed(entries) if e.event.type in DECISION_EVENTS), None)
    effects = []
    if decision is not None:
        # Each effect under the label its subscriber registered (the publisher names none of
        # them), in a stable order; a new side effect shows up by itself.
        lines = sorted(decision.deliveries, key=lambda d: (_effect_label(d.subscriber), d.subscriber))
        effects = [{"label": _effect_label(line.subscriber), "subscriber": line.subscriber,
                    "status": line.status, "retrying": line.attempts > 1 and line.status in UNSETTLED}
                   for line in lines]
    deciding = decision is not None and any(e["status"] in UNSETTLED for e in effects)
    can_decide = _can_decide(membership, expense)
    return {"expense": expense, "processing": in_progress, "display_state": "processing" if deciding else expense.state,
            "effects": effects, "error": error, "can_decide": can_decide,
            # the approver's next expense, so they keep their place in the queue: None for one who
            # approves nothing today (next_waiting's own delegation probe says so)
            "next_in_queue": None if can_decide else queries.next_waiting(membership, expense)}


def _effect_label(name: str) -> str:
    registered = get_subscriber(name)
    return registered.effect_label if registered else name


def _timeline(expense, *, attempts: bool = True):
    return timeline(organization_id=expense.organization_id, aggregate_type="expense", aggregate_id=str(expense.pk),
                    attempts=attempts)


def _can_decide(membership, expense) -> bool:
    """Decision buttons only for someone who may give the next step (the same checks as the
    command, read-only): a manager who approved never sees them again while finance decides."""
    if expense.state != ExpenseState.SUBMITTED or expense.employee_id == membership.pk:
        return False
    try:
        step, _, done = services.check_approvable(expense)
        services.check_approver(membership, expense, step, done)
    except DomainError:
        return False
    return True


@member_required()
def expense_detail(request, membership, expense_id):
    expense = _detail(membership, expense_id, budget=True)
    entries = _timeline(expense)
    reimbursement = reimbursement_state(membership.organization_id, expense.pk)
    context = status_context(membership, expense, entries=entries)
    technical = sees_technical_timeline(membership)
    thread = queries.comment_thread(expense)
    context.update({
        "reimbursement_state": reimbursement,
        "reimbursement_label": reimbursement_label(reimbursement),
        "timeline": entries if technical else [],
        "technical": technical,
        "progress": [] if technical else progress(entries),
        "is_owner": expense.employee_id == membership.pk,
        "remaining_budget": expense.remaining_budget,
        "twins": (duplicate_twins(expense) if context_is_duplicate_check(request, expense, membership) else []),
        "flags": _flags(membership, expense),
        "thread": thread,
        # a row naming a file the storage no longer has shows that, not a broken image
        "receipt_missing": bool(expense.receipt) and not expense.receipt.storage.exists(expense.receipt.name),
        "question": next((c for c in reversed(thread) if c.kind == CommentKind.QUESTION), None)
        if expense.state == ExpenseState.DRAFT else None,
    })
    return render(request, "expenses/detail.html", context)


def context_is_duplicate_check(request, expense, membership) -> bool:
    return (request.GET.get("check") == "duplicate" and expense.employee_id == membership.pk
            and expense.state == ExpenseState.DRAFT)


def _flags(membership, expense) -> list[dict]:
    """The expense's flags, each twin marked with whether the caller may open it (a link only
    where it works: a manager does not see another team's expense)."""
    flags = list(expense.flags or [])
    ids = [f["twin_id"] for f in flags if f.get("twin_id")]
    visible = ({str(pk) for pk in queries.visible_expenses(membership).filter(pk__in=ids).values_list("pk", flat=True)}
               if ids else set())
    return [{**flag, "twin_visible": flag.get("twin_id") in visible} for flag in flags]


@require_GET
@member_required()
def expense_status(request, membership, expense_id):
    expense = _detail(membership, expense_id, approver_names=False)  # the box shows no names
    return render(request, "expenses/_status.html", status_context(membership, expense))


@require_GET
@member_required()
def expense_timeline(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    entries = _timeline(expense)
    if not sees_technical_timeline(membership):
        return render(request, "expenses/_progress.html", {"progress": progress(entries), "expense": expense})
    return render(request, "expenses/_timeline.html", {"timeline": entries, "expense": expense})


def sees_technical_timeline(membership) -> bool:
    """Subscribers, deliveries, correlation ids and latencies are for approvers, finance and
    admins; an employee reads the same history in plain words (``progress``)."""
    return membership.role in APPROVERS or may_approve(membership)


def progress(entries) -> list[dict]:
    """The expense's history in plain words, from its events."""
    steps = []
    for entry in entries:
        event, payload = entry.event, entry.event.payload
        text = {
            "expense.submitted": "Submitted for approval",
            "expense.withdrawn": "Taken back to draft",
            "expense.approval_recorded": f"Approved by {payload.get('approver_name', '')}; waiting for finance",
            "expense.approved": f"Approved by {payload.get('approver_name', '')}",
            "expense.rejected": f"Rejected by {payload.get('rejected_by_name', '')}",
            "expense.returned": f"Returned with a question by {payload.get('returned_by_name', '')}",
        }.get(event.type)
        if text:
            steps.append({"text": text, "at": event.occurred_at, "type": event.type})
    return steps


def _decide(request, membership, expense_id, command, **kwargs):
    """Run approve/reject. htmx gets the decision panel back: the status box (now "processing")
    or, if refused, the unchanged box with the refusal beside it — outside the polled box, so
    the next poll does not wipe the message. A plain form post (no JavaScript) is redirected to
    the page with the refusal as a message."""
    _, error = run_command(request, command, show_error=not request.htmx, actor=membership, expense_id=expense_id,
                           **kwargs)
    if request.htmx:
        expense = _detail(membership, expense_id)
        # A refusal answers its own status, so logs, metrics and tests see it; static/js/live.js
        # swaps a fragment marked X-Refusal although htmx leaves 4xx answers unswapped by default.
        response = render(request, "expenses/_decision.html", status_context(membership, expense, error=error),
                          status=error.http_status if error is not None else 200)
        if error is not None:
            response["X-Refusal"] = error.code
        return response
    return redirect("expense-detail", expense_id=expense_id)


@require_POST
@approver_required
def expense_approve(request, membership, expense_id):
    return _decide(request, membership, expense_id, services.expense_approve)


@require_POST
@approver_required
def expense_reject(request, membership, expense_id):
    return _decide(request, membership, expense_id, services.expense_reject, reason=request.POST.get("reason", ""))


@require_GET
@member_required()
def expense_receipt(request, membership, expense_id):
    """Serve a receipt to those who may see the expense; never inline-executable."""
    expense = _detail(membership, expense_id)
    if not expense.receipt:
        raise Http404("No receipt.")
    try:
        stored = expense.receipt.open("rb")
    except FileNotFoundError:  # the row names a file the storage no longer has: missing, not a crash
        raise Http404("The receipt file is missing.") from None
    response = FileResponse(stored, content_type=expense.receipt_content_type)
    extension = expense.receipt.name.rsplit(".", 1)[-1]
    # ?view=inline shows it in the page's preview (an <img>, or a PDF in a sandboxed <iframe>) and
    # in the larger view; it stays sandboxed, unsniffed and scriptless either way, and only this
    # site may frame it.
    inline = request.GET.get("view") == "inline"
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="receipt-{expense.pk}.{extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox" + ("; frame-ancestors 'self'" if inline else "")
    if inline:
        response["X-Frame-Options"] = "SAMEORIGIN"
    return response


@member_required()
def home(request, membership):
    if membership.role in APPROVERS:
        return redirect(reverse("approval-queue") if membership.role == Role.MANAGER else reverse("dashboard"))
    return redirect("expense-list")
