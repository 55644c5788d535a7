"""Search, filters and sorting of the list pages: a GET form, so every filtered list is a URL to
share. The filter sets are the API's own (``expenses.filters``, ``accounting.filters``); on a page
their amounts are read in the organisation's locale ("1,50" in Berlin)."""

from __future__ import annotations

import hashlib

from django.template.loader import render_to_string
from django.utils.translation import get_language

from accounting import filters as finance_filters
from accounting import queries as accounting_queries
from core.memo import LeastRecentlyUsed
from expenses import filters as expense_filters
from organizations.queries import filter_choices


def filter_list(request, membership, filterset_class, queryset, *, sorts: dict, sort_labels: dict,
                default_sort: str, people: bool = False, **options) -> dict:
    """The filtered, sorted list and its filter form, already rendered (``filters_html``, from
    ``_filters.html``). Invalid values are shown at their field and ignored; the list is never a 500.

    A list opened without a query string filters nothing, and its form is the same HTML for the
    same choices: ``_opened_forms`` keeps it, so such a page neither builds the filter set nor
    renders the form (2.8 ms of the approval queue's page, bench/profile_reads.py)."""
    organization = membership.organization
    if not request.GET:
        # A digest of everything the unbound form's HTML is made of (the key holds no choice
        # list of its own); the choices are read on every request, so a new cost centre,
        # category or member is a new key, never a stale form.
        key = hashlib.blake2b(repr((
            filterset_class.__module__, filterset_class.__qualname__, organization.currency, organization.locale,
            get_language(), people, default_sort, tuple(sort_labels.items()),
            tuple((name, tuple(value)) for name, value in sorted(options.items())))).encode(), digest_size=20).digest()
        html = _opened_forms.get(key)
        if html is None:
            filterset = filterset_class(None, queryset=queryset, organization=organization, typed_in_locale=True,
                                        **options)
            html = _opened_forms.put(key, _render_form(filterset, sort_labels, default_sort, people, filtered=False))
        return {"filters_html": html, "sort": default_sort, "people": people,
                "items": queryset.order_by(*sorts[default_sort]), "filtered": False}
    filterset = filterset_class(request.GET, queryset=queryset, organization=organization, typed_in_locale=True,
                                **options)
    filterset.is_valid()  # errors are shown at their fields; valid fields still filter
    sort = request.GET.get("sort") if request.GET.get("sort") in sorts else default_sort
    filtered = is_filtered(request)
    return {"filter": filterset, "sort": sort, "people": people, "filtered": filtered,
            "filters_html": _render_form(filterset, sort_labels, sort, people, filtered=filtered),
            "items": filterset.qs.order_by(*sorts[sort])}


def _render_form(filterset, sort_labels: dict, sort: str, people: bool, *, filtered: bool) -> str:
    return render_to_string("_filters.html", {"filter": filterset, "sorts": sort_labels, "sort": sort,
                                              "people": people, "filtered": filtered})


# A form is a few kilobytes, more with hundreds of people to pick from: 256 of them (an
# organisation's lists, its people's queues) stay a few megabytes.
_opened_forms = LeastRecentlyUsed(256)


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
