"""Finance pages: reimbursements, payout batches, trial balance, the journal, account ledgers."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounting import exports, queries, sepa, services
from accounting.models import Account, PayoutBatch
from core.errors import DomainError

from .base import FINANCE, member_required
from .filtering import filter_batches, filter_journal, filter_ledger_lines, filter_reimbursements


@member_required()
def reimbursement_list(request, membership):
    context = filter_reimbursements(request, membership, queries.reimbursements_for(membership))
    return render(request, "finance/reimbursements.html", {**context, "reimbursements": context["items"][:500]})


@member_required(*FINANCE)
def batch_list(request, membership):
    context = filter_batches(request, membership, queries.payout_batches_for(membership))
    batches = list(context["items"][:100])
    for batch in batches:
        batch.sepa_held_out = sepa.held_out(batch) if batch.state == PayoutBatch.State.OPEN else []
    return render(request, "finance/batches.html", {**context, "batches": batches, "schemas": sepa.SCHEMAS})


def _batch(membership, batch_id) -> PayoutBatch:
    try:
        return queries.payout_batches_for(membership).get(pk=batch_id)
    except (PayoutBatch.DoesNotExist, DjangoValidationError):
        raise Http404("No such batch.") from None


@member_required(*FINANCE)
def batch_file(request, membership, batch_id):
    """The CSV, or with ?format=sepa the pain.001 file (?version=...); every download audited."""
    _batch(membership, batch_id)
    file_format = "sepa" if request.GET.get("format") == "sepa" else "csv"
    try:
        payment_file = services.payout_batch_file(actor=membership, batch_id=batch_id, file_format=file_format,
                                                  schema=request.GET.get("version", sepa.DEFAULT_SCHEMA))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("batch-list")
    response = HttpResponse(payment_file.content, content_type=payment_file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{payment_file.filename}"'
    return response


@member_required(*FINANCE)
def batch_confirm(request, membership, batch_id):
    """GET asks (the batch's total and payments, one clear "pay" button); POST confirms. Paying
    is never one click from the list."""
    batch = _batch(membership, batch_id)
    if request.method != "POST":
        return render(request, "finance/batch_confirm.html", {
            "batch": batch, "reimbursements": batch.reimbursements.order_by("payee_name")})
    try:
        services.payout_batch_confirm(actor=membership, batch_id=batch_id)
        messages.success(request, "Batch confirmed as paid. Employees are being notified.")
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("batch-list")


@require_POST
@member_required(*FINANCE)
def payout_run_now(request, membership):
    batch = services.payout_run(organization=membership.organization)
    messages.success(request, "Nothing is queued." if batch is None else f"Batch of {batch.total} created.")
    return redirect("batch-list")


@member_required(*FINANCE)
def trial_balance(request, membership):
    rows = queries.trial_balance(membership.organization_id)
    return render(request, "finance/trial_balance.html", {
        "rows": rows, "debits": sum(r.debit for r in rows), "credits": sum(r.credit for r in rows)})


@member_required(*FINANCE)
def ledger_export(request, membership):
    """Journal lines as CSV or DATEV for a date range, or since the last export (recorded)."""
    try:
        export = exports.accounting_export(
            actor=membership, file_format=request.GET.get("format", "csv"),
            date_from=_date(request.GET.get("from")), date_to=_date(request.GET.get("to")),
            since_last=request.GET.get("since") == "last")
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("trial-balance")
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


def _date(value: str | None):
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise exports.ExportRefused(f"{value[:20]!r} is not a date (YYYY-MM-DD).") from None


@member_required(*FINANCE)
def journal(request, membership):
    """Every journal entry of the organisation, filtered by date, total, memo, account and kind."""
    context = filter_journal(request, membership, queries.journal_entries(membership.organization_id))
    return render(request, "finance/journal.html", {**context, "entries": context["items"][:500]})


@member_required(*FINANCE)
def account_ledger(request, membership, account_id):
    """An account's lines with the running balance; the filters choose which lines are listed."""
    try:
        account = queries.account_of(membership.organization_id, account_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None
    context = filter_ledger_lines(request, membership, queries.account_lines(account))
    _, lines = queries.account_ledger(membership.organization_id, account_id, context["items"])
    return render(request, "finance/ledger.html", {**context, "account": account, "lines": lines})
