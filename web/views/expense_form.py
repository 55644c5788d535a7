"""The expense form (new expense, edit draft) and deleting a draft.

"Save and submit" is one transaction: a submission the command refuses (a missing receipt, a
blocking rule, a possible duplicate) rolls the draft back too, so nothing is left behind and the
employee stays on the form with the error at its field. A receipt chosen on a form that failed
is kept as a pending upload (``web.pending_receipts``)."""

from __future__ import annotations

from babel.numbers import format_decimal
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound
from expenses import services
from expenses.errors import PossibleDuplicate
from expenses.models import ExpenseState
from web import pending_receipts
from web.forms import ExpenseForm

from .base import member_required
from .expenses import _detail, submitted_message


def _form_field(form, field: str | None) -> str | None:
    """The form field a command's ``details.field`` names (the form calls ids ``*_id``)."""
    for name in (field, f"{field}_id"):
        if name and name in form.fields:
            return name
    return None


ERROR_FIELDS = {"invalid_amount": "amount", "amount_too_large": "amount", "future_date": "incurred_on",
                "too_old": "incurred_on", "receipt_required": "receipt", "invalid_receipt": "receipt",
                "category_amount_exceeded": "amount", "category_receipt_required": "receipt",
                "category_too_old": "incurred_on"}


def _save(request, membership, form, expense, receipt):
    """Save the draft and, with "Save and submit", submit it: both or neither."""
    data = {k: v for k, v in form.cleaned_data.items() if k != "receipt"}
    with transaction.atomic():
        if expense is None:
            saved = services.expense_create(actor=membership, data=data, receipt=receipt)
        else:
            saved = services.expense_update(actor=membership, expense_id=expense.pk, data=data, receipt=receipt,
                                            expected_version=form.cleaned_data.get("version"))
        if "submit" in request.POST:
            saved = services.expense_submit(actor=membership, expense_id=saved.pk,
                                            confirm_not_duplicate=request.POST.get("confirm_not_duplicate") == "1")
    return saved


def _form_page(request, membership, expense=None):
    initial = None
    if expense is not None:
        typed = format_decimal(expense.amount, format="0.00", locale=membership.organization.locale)
        initial = {"merchant": expense.merchant, "amount": typed, "incurred_on": expense.incurred_on,
                   "cost_center_id": expense.cost_center_id, "category_id": expense.category_id,
                   "description": expense.description, "version": expense.version}
    form = ExpenseForm(request.POST or None, request.FILES or None, membership=membership, initial=initial,
                       require_version=expense is not None)
    token = request.POST.get("pending_receipt") if request.method == "POST" else None
    twins = []
    if request.method == "POST":
        upload = request.FILES.get("receipt")
        if form.is_valid():
            receipt = form.cleaned_data.get("receipt") or pending_receipts.take(request, token)
            try:
                saved = _save(request, membership, form, expense, receipt)
            except PossibleDuplicate as warning:
                twins = warning.details.get("twins", [])
            except NotFound:
                raise Http404("No such expense.") from None
            except DomainError as error:
                form.add_error(_form_field(form, error.details.get("field")) or ERROR_FIELDS.get(error.code),
                               error.message)
            else:
                pending_receipts.discard(request, token)
                if saved.state == ExpenseState.DRAFT:
                    messages.success(request, "Draft saved.")
                else:
                    messages.success(request, submitted_message(saved))
                return redirect("expense-detail", expense_id=saved.pk)
        if upload is not None and "receipt" not in form.errors:
            kept = pending_receipts.keep(request, upload)
            if kept is not None:
                pending_receipts.discard(request, token)
                token = kept["token"]
    pending = pending_receipts.describe(request, token)
    return render(request, "expenses/form.html", {
        "form": form, "expense": expense, "pending": pending, "twins": twins,
        "title": "Edit draft" if expense is not None else "New expense",
        "errors": [(name, form.fields[name].label or name, error) for name, errors in form.errors.items()
                   if name != "__all__" for error in errors],
    })


@member_required()
def expense_create(request, membership):
    return _form_page(request, membership)


@member_required()
def expense_edit(request, membership, expense_id):
    expense = _detail(membership, expense_id)
    if expense.employee_id != membership.pk or expense.state != ExpenseState.DRAFT:
        raise PermissionDenied("Only your own drafts can be edited.")
    return _form_page(request, membership, expense)


@require_POST
@member_required()
def expense_delete(request, membership, expense_id):
    try:
        services.expense_delete(actor=membership, expense_id=expense_id)
    except NotFound:
        raise Http404("No such expense.") from None
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("expense-detail", expense_id=expense_id)
    messages.success(request, "Draft deleted.")
    return redirect("expense-list")
