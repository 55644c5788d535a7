"""Search, filters and sorting of the list pages: a GET form, so every filtered list is a URL to
share. The filter sets are the API's own (``expenses.filters``, ``accounting.filters``); on a page
their amounts are read in the organisation's locale ("1,50" in Berlin)."""

from __future__ import annotations

from accounting import filters as finance_filters
from accounting import queries as accounting_queries
from expenses import filters as expense_filters
from organizations.queries import filter_choices


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
            "items": filterset.qs.order_by(*sorts[sort]), "filtered": is_filtered(request)}


def is_filtered(request) -> bool:
    """A filter was typed (the sort alone is not one)."""
    return any(v for k, v in request.GET.items() if k != "sort")


def as_it_opens(request, *, sorts: dict, default_sort: str) -> bool:
    """No filter typed and the default order (or a sort the list does not know, which falls back
    to it): the list as it opens, which a page may read its own faster way."""
    sort = request.GET.get("sort")
    return not is_filtered(request) and (sort not in sorts or sort == default_sort)


def filter_expenses(request, membership, queryset, *, default_sort: str, people: bool = False) -> dict:
    choices = filter_choices(membership, people=people)
    return filter_list(request, membership, expense_filters.ExpenseFilter, queryset, sorts=expense_filters.SORTS,
                       sort_labels=expense_filters.SORT_LABELS, default_sort=default_sort, people=people,
                       employees=choices.employees, cost_centers=choices.cost_centers,
                       categories=choices.categories)


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
