from __future__ import annotations

from django import forms

from organizations.formats import amount_example, parse_amount
from organizations.queries import categories_for, cost_centers_for


class ExpenseForm(forms.Form):
    """The fields of a draft. Validation of amounts, dates and receipts is the command's job, so
    the form and the API refuse exactly the same things with the same messages."""

    merchant = forms.CharField(max_length=200)
    amount = forms.CharField(max_length=32, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    incurred_on = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    cost_center_id = forms.TypedChoiceField(label="Cost centre", coerce=int)
    category_id = forms.TypedChoiceField(label="Category", coerce=int)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    receipt = forms.FileField(required=False, help_text="PDF, PNG, JPEG or WebP, up to 10 MB",
                              widget=forms.FileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,.webp"}))
    version = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput)

    def __init__(self, *args, membership, require_version: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].required = require_version
        self.locale = membership.organization.locale
        self.fields["amount"].help_text = (f"In {membership.organization.currency}, written like "
                                           f"{amount_example(self.locale)}")
        self.fields["cost_center_id"].choices = [(c.pk, f"{c.code} {c.name}") for c in cost_centers_for(membership)]
        self.fields["category_id"].choices = [(c.pk, c.name) for c in categories_for(membership)]

    def clean_amount(self) -> str:
        """What was typed in the organisation's locale ("1,50" in Berlin) as the plain decimal
        string the command takes; the command still decides whether the amount is allowed."""
        try:
            return parse_amount(self.cleaned_data["amount"], self.locale)
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid_amount") from None
