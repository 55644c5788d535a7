"""A member's bank details page: in clear for finance and the owner, masked for everyone else."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render

from core.errors import DomainError
from money import queries, services

from .base import member_required


class BankDetailsForm(forms.Form):
    holder = forms.CharField(max_length=200, label="Account holder")
    iban = forms.CharField(max_length=64, label="IBAN", help_text="Spaces and lower case are fine")
    bic = forms.CharField(max_length=20, required=False, label="BIC", help_text="Only where your bank needs it")


@member_required()
def bank_details(request, membership, membership_id=None):
    """GET shows the details (masked unless finance or the owner); POST changes them (owner or finance)."""
    try:
        owner = services.member_of(membership, membership_id or membership.pk)
    except DomainError as error:
        return render(request, "money/bank_details.html", {"error": error.message}, status=404)
    may_change = services.may_see_bank_details(membership, owner)
    form = BankDetailsForm(request.POST or None) if may_change else None
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            services.bank_details_set(actor=membership, membership_id=owner.pk, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.details.get("field") if error.details.get("field") in form.fields else None,
                           error.message)
        else:
            messages.success(request, "Bank details saved. The employee is notified of the change.")
            return redirect(request.path)
    return render(request, "money/bank_details.html",
                  {"owner": owner, "details": queries.bank_details_view(membership, owner), "form": form})
