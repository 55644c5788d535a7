"""The filters of every expense list, shared by the pages (query strings that can be shared) and
the API, so both answer the same question the same way. Always applied to a queryset already
scoped to the caller (``queries.visible_expenses``, ``my_expenses``, ``awaiting_my_approval``)."""

from __future__ import annotations

import django_filters
from django import forms

from .models import Expense, ExpenseState

# What a list can be sorted by: the query-string value and the ordering it means.
SORTS = {
    "date": ("incurred_on", "created_at"), "-date": ("-incurred_on", "-created_at"),
    "amount": ("amount", "created_at"), "-amount": ("-amount", "-created_at"),
    "merchant": ("merchant", "created_at"), "-merchant": ("-merchant", "-created_at"),
    "submitted": ("submitted_at",), "-submitted": ("-submitted_at",),
}
SORT_LABELS = {"-date": "Date, newest first", "date": "Date, oldest first", "-amount": "Amount, largest first",
               "amount": "Amount, smallest first", "merchant": "Merchant A-Z", "-merchant": "Merchant Z-A",
               "submitted": "Submitted, oldest first", "-submitted": "Submitted, newest first"}


class ExpenseFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="merchant", lookup_expr="icontains", label="Merchant",
                                  max_length=200)
    state = django_filters.ChoiceFilter(choices=ExpenseState.choices, empty_label="Any state")
    # An id beyond PostgreSQL's bigint simply matches nothing (tests/api/test_bad_input.py).
    employee = django_filters.NumberFilter(field_name="employee_id", widget=forms.HiddenInput)
    cost_center = django_filters.NumberFilter(field_name="cost_center_id", label="Cost centre")
    category = django_filters.NumberFilter(field_name="category_id")
    incurred_from = django_filters.DateFilter(field_name="incurred_on", lookup_expr="gte", label="From",
                                              widget=forms.DateInput(attrs={"type": "date"}))
    incurred_to = django_filters.DateFilter(field_name="incurred_on", lookup_expr="lte", label="To",
                                            widget=forms.DateInput(attrs={"type": "date"}))
    amount_min = django_filters.NumberFilter(field_name="amount", lookup_expr="gte", label="Amount from",
                                             max_digits=14, decimal_places=2)
    amount_max = django_filters.NumberFilter(field_name="amount", lookup_expr="lte", label="Amount to",
                                             max_digits=14, decimal_places=2)

    class Meta:
        model = Expense
        fields = []

    def __init__(self, *args, cost_centers=(), categories=(), employees=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Pages offer the caller's own cost centres, categories and people as choices; the API takes ids.
        for name, options in (("cost_center", cost_centers), ("category", categories), ("employee", employees)):
            if options:
                self.form.fields[name].widget = forms.Select(choices=[("", "Any"), *options])


def sorted_by(queryset, value: str | None, default: str):
    return queryset.order_by(*SORTS.get(value or "", SORTS[default]))
