"""The filters of the finance lists (reimbursements, payout batches, the journal and an account's
ledger), shared by the finance pages (query strings that can be shared) and the API. Amounts are
in the organisation's currency (what the books hold); days on timestamps are the organisation's
(``organizations.filters``)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.utils import extend_schema_field

from organizations.filters import OrganizationFilterSet, amount_range, day_range

from .models import JournalEntry, JournalLine, PayoutBatch, Reimbursement, ReimbursementState


class ReimbursementFilter(OrganizationFilterSet):
    q = django_filters.CharFilter(method="search", label="Payee or merchant", max_length=200)
    state = django_filters.ChoiceFilter(choices=ReimbursementState.choices, empty_label="Any state")
    created_from, created_to = day_range("created_at", timestamp=True)
    amount_min, amount_max = amount_range("amount")

    class Meta:
        model = Reimbursement
        fields = []

    def search(self, queryset, name, value: str):
        return queryset.filter(Q(payee_name__icontains=value) | Q(merchant__icontains=value))


SORTS = {"-created": ("-created_at",), "created": ("created_at",), "-amount": ("-amount", "-created_at"),
         "amount": ("amount", "created_at"), "payee": ("payee_name", "-created_at")}
SORT_LABELS = {"-created": "Newest first", "created": "Oldest first", "-amount": "Amount, largest first",
               "amount": "Amount, smallest first", "payee": "Payee A-Z"}


class PayoutBatchFilter(OrganizationFilterSet):
    """Batches by state, the day they were made, their total, and whom they pay (a batch pays
    many employees: ``payee`` finds the batches with one payment to that name)."""

    payee = django_filters.CharFilter(method="paying", label="Payee", max_length=200)
    state = django_filters.ChoiceFilter(choices=PayoutBatch.State.choices, empty_label="Any state")
    created_from, created_to = day_range("created_at", timestamp=True)
    amount_min, amount_max = amount_range("total")

    class Meta:
        model = PayoutBatch
        fields = []

    def paying(self, queryset, name, value: str):
        return queryset.filter(Exists(Reimbursement.objects.filter(batch=OuterRef("pk"), payee_name__icontains=value)))


BATCH_SORTS = {"-created": ("-created_at",), "created": ("created_at",), "-amount": ("-total", "-created_at"),
               "amount": ("total", "created_at")}
BATCH_SORT_LABELS = {"-created": "Newest first", "created": "Oldest first", "-amount": "Total, largest first",
                     "amount": "Total, smallest first"}


ENTRY_KINDS = [("standing", "Standing"), ("reversed", "Reversed"), ("reversal", "Reversal")]


@extend_schema_field({"type": "string", "enum": [value for value, _ in ENTRY_KINDS],
                      "description": "standing (not reversed), reversed (a later entry reversed it), reversal"})
class EntryKind(django_filters.ChoiceFilter):
    """A posting that stands, one that a later entry reversed, or a reversal itself."""

    def __init__(self, *, entry: str, **kwargs):
        self.entry = entry  # the path from the filtered row to its journal entry ("" for an entry)
        super().__init__(choices=ENTRY_KINDS, empty_label="Any", label="Kind", **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        reversal_of, reversed_by = f"{self.entry}reversal_of__isnull", f"{self.entry}reversed_by__isnull"
        if value == "reversal":
            return qs.filter(**{reversal_of: False})
        if value == "reversed":
            return qs.filter(**{reversed_by: False})
        return qs.filter(**{reversal_of: True, reversed_by: True})


class JournalEntryFilter(OrganizationFilterSet):
    """Entries by their date, total (the sum of either side, ``queries.journal_entries``),
    memo (which names the merchant and the employee), an account they post to, and kind."""

    q = django_filters.CharFilter(field_name="memo", lookup_expr="icontains", label="Memo or employee",
                                  max_length=200)
    # A whole id within bigint (anything else is refused at the field, never sent to PostgreSQL).
    account = django_filters.NumberFilter(method="posting_to", label="Account", min_value=1, max_value=2**63 - 1,
                                          decimal_places=0)
    kind = EntryKind(entry="")
    date_from, date_to = day_range("date", timestamp=False)
    amount_min, amount_max = amount_range("total")

    class Meta:
        model = JournalEntry
        fields = []

    def posting_to(self, queryset, name, value: int):
        return queryset.filter(Exists(JournalLine.objects.filter(entry=OuterRef("pk"), account_id=value)))

    def __init__(self, *args, accounts=(), **kwargs):
        super().__init__(*args, **kwargs)
        if accounts:  # pages offer the organisation's accounts; the API takes an id
            self.form.fields["account"].widget = forms.Select(choices=[("", "Any"), *accounts])


JOURNAL_SORTS = {"-date": ("-date", "-created_at"), "date": ("date", "created_at"),
                 "-amount": ("-total", "-date", "-created_at"), "amount": ("total", "date", "created_at")}
JOURNAL_SORT_LABELS = {"-date": "Date, newest first", "date": "Date, oldest first", "-amount": "Total, largest first",
                       "amount": "Total, smallest first"}


class JournalLineFilter(OrganizationFilterSet):
    """An account's lines by entry date, amount (debit or credit, ``queries.account_lines``), memo
    and kind. The running balance stays the account's own: filters choose the lines shown."""

    q = django_filters.CharFilter(field_name="entry__memo", lookup_expr="icontains", label="Memo or employee",
                                  max_length=200)
    kind = EntryKind(entry="entry__")
    date_from, date_to = day_range("entry__date", timestamp=False)
    amount_min, amount_max = amount_range("amount")

    class Meta:
        model = JournalLine
        fields = []


LEDGER_SORTS = {"posted": ("entry__date", "entry__created_at", "id")}
LEDGER_SORT_LABELS = {"posted": "Posting order"}
