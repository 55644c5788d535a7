"""The filters of every expense list, shared by the pages (query strings that can be shared) and
the API, so both answer the same question the same way. Always applied to a queryset already
scoped to the caller (``queries.visible_expenses``, ``my_expenses``, ``awaiting_my_approval``).

Amounts are filtered and sorted on ``org_amount``, the amount converted into the organisation's
currency (the label says which): what every rule and book uses, so "from 100" means the same for
a receipt in yen as for one in euros."""

from __future__ import annotations

import django_filters
from django import forms

from organizations.filters import OrganizationFilterSet, amount_range, day_range

from .models import Expense, ExpenseState

# What a list can be sorted by: the query-string value and the ordering it means.
SORTS = {
    "date": ("incurred_on", "created_at"), "-date": ("-incurred_on", "-created_at"),
    "amount": ("org_amount", "created_at"), "-amount": ("-org_amount", "-created_at"),
    "merchant": ("merchant", "created_at"), "-merchant": ("-merchant", "-created_at"),
    "submitted": ("submitted_at", "pk"), "-submitted": ("-submitted_at", "-pk"),
}
SORT_LABELS = {"-date": "Date, newest first", "date": "Date, oldest first", "-amount": "Amount, largest first",
               "amount": "Amount, smallest first", "merchant": "Merchant A-Z", "-merchant": "Merchant Z-A",
               "submitted": "Submitted, oldest first", "-submitted": "Submitted, newest first"}


class ExpenseFilter(OrganizationFilterSet):
    q = django_filters.CharFilter(field_name="merchant", lookup_expr="icontains", label="Merchant",
                                  max_length=200)
    state = django_filters.ChoiceFilter(choices=ExpenseState.choices, empty_label="Any state")
    # An id beyond PostgreSQL's bigint simply matches nothing (tests/api/test_bad_input.py).
    employee = django_filters.NumberFilter(field_name="employee_id", widget=forms.HiddenInput)
    cost_center = django_filters.NumberFilter(field_name="cost_center_id", label="Cost centre")
    category = django_filters.NumberFilter(field_name="category_id")
    incurred_from, incurred_to = day_range("incurred_on", timestamp=False)
    amount_min, amount_max = amount_range("org_amount")

    class Meta:
        model = Expense
        fields = []

    def __init__(self, *args, cost_centers=(), categories=(), employees=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Pages offer the caller's own cost centres, categories and people as choices; the API takes ids.
        for name, options in (("cost_center", cost_centers), ("category", categories), ("employee", employees)):
            if options:
                self.form.fields[name].widget = forms.Select(choices=[("", "Any"), *options])

