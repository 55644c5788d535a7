"""Search, filters and sorting of the list pages: a GET form, so every filtered list is a URL to
share. The filter sets are the API's own (``expenses.filters``, ``accounting.filters``); on a page
their amounts are read in the organisation's locale ("1,50" in Berlin)."""

from __future__ import annotations

from accounting import filters as finance_filters
from accounting import queries as accounting_queries
from expenses import filters as expense_filters
from organizations.models import Membership
from organizations.queries import categories_for, cost_centers_for


def filter_list(request, membership, filterset_class, queryset, *, sorts: dict, sort_labels: dict,
                default_sort: str, people: bool = False, **options) -> dict:
    """The filtered, sorted list and what the filter form (``_filters.html``) needs. Invalid
    values are shown at their field and ignored; the list is never a 500."""
    filterset = filterset_class(request.GET or None, queryset=queryset, organization=membership.organization,
                                typed_in_locale=True, **options)
    if filterset.is_bound:
        filterset.is_valid()  # errors are shown at their fields; valid fields still filter
    sort = request.GET.get("sort") if request.GET.get("sort") in sorts else default_sort
    return {"filter": filterset, "sort": sort, "sorts": sort_labels, "people": people,
            "items": filterset.qs.order_by(*sorts[sort]),
            "filtered": any(v for k, v in request.GET.items() if k != "sort")}


def filter_expenses(request, membership, queryset, *, default_sort: str, people: bool = False) -> dict:
    employees = ([(m.pk, m.display_name) for m in Membership.objects.filter(
        organization_id=membership.organization_id, is_active=True).select_related("user").order_by("user__username")]
        if people else ())
    return filter_list(request, membership, expense_filters.ExpenseFilter, queryset, sorts=expense_filters.SORTS,
                       sort_labels=expense_filters.SORT_LABELS, default_sort=default_sort, people=people,
                       employees=employees,
                       cost_centers=[(c.pk, f"{c.code} {c.name}") for c in cost_centers_for(membership)],
                       categories=[(c.pk, c.name) for c in categories_for(membership)])


def filter_reimbursements(request, membership, queryset) -> dict:
    return filter_list(request, membership, finance_filters.ReimbursementFilter, queryset,
                       sorts=finance_filters.SORTS, sort_labels=finance_filters.SORT_LABELS, default_sort="-created")


def filter_batches(request, membership, queryset) -> dict:
    return filter_list(request, membership, finance_filters.PayoutBatchFilter, queryset,
                       sorts=finance_filters.BATCH_SORTS, sort_labels=finance_filters.BATCH_SORT_LABELS,
                       default_sort="-created")


def filter_journal(request, membership, queryset) -> dict:
    return filter_list(request, membership, finance_filters.JournalEntryFilter, queryset,
                       sorts=finance_filters.JOURNAL_SORTS, sort_labels=finance_filters.JOURNAL_SORT_LABELS,
                       default_sort="-date", accounts=accounting_queries.accounts_for(membership.organization_id))


def filter_ledger_lines(request, membership, queryset) -> dict:
    """An account's lines: posting order only (the running balance reads top to bottom)."""
    return filter_list(request, membership, finance_filters.JournalLineFilter, queryset,
                       sorts=finance_filters.LEDGER_SORTS, sort_labels=finance_filters.LEDGER_SORT_LABELS,
                       default_sort="posted")
