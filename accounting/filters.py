"""The filters of the reimbursement lists, shared by the finance page and the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from .models import Reimbursement, ReimbursementState


class ReimbursementFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Payee or merchant", max_length=200)
    state = django_filters.ChoiceFilter(choices=ReimbursementState.choices, empty_label="Any state")
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label="From",
                                             widget=forms.DateInput(attrs={"type": "date"}))
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label="To",
                                           widget=forms.DateInput(attrs={"type": "date"}))
    amount_min = django_filters.NumberFilter(field_name="amount", lookup_expr="gte", label="Amount from",
                                             max_digits=14, decimal_places=2)
    amount_max = django_filters.NumberFilter(field_name="amount", lookup_expr="lte", label="Amount to",
                                             max_digits=14, decimal_places=2)

    class Meta:
        model = Reimbursement
        fields = []

    def search(self, queryset, name, value):
        return queryset.filter(Q(payee_name__icontains=value) | Q(merchant__icontains=value))


SORTS = {"-created": ("-created_at",), "created": ("created_at",), "-amount": ("-amount", "-created_at"),
         "amount": ("amount", "created_at"), "payee": ("payee_name", "-created_at")}
SORT_LABELS = {"-created": "Newest first", "created": "Oldest first", "-amount": "Amount, largest first",
               "amount": "Amount, smallest first", "payee": "Payee A-Z"}
