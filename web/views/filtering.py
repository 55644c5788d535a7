"""Search, filters and sorting of the list pages: a GET form, so every filtered list is a URL to
share. The filter sets are the API's own (``expenses.filters``, ``accounting.filters``)."""

from __future__ import annotations

from accounting import filters as reimbursement_filters
from expenses import filters as expense_filters
from organizations.models import Membership
from organizations.queries import categories_for, cost_centers_for


def filter_expenses(request, membership, queryset, *, default_sort: str, people: bool = False) -> dict:
    """The filtered, sorted list and what the filter form needs. Invalid values are shown at
    their field and ignored; the list is never a 500."""
    employees = ([(m.pk, m.display_name) for m in Membership.objects.filter(
        organization_id=membership.organization_id, is_active=True).select_related("user").order_by("user__username")]
        if people else ())
    filterset = expense_filters.ExpenseFilter(
        request.GET or None, queryset=queryset, employees=employees,
        cost_centers=[(c.pk, f"{c.code} {c.name}") for c in cost_centers_for(membership)],
        categories=[(c.pk, c.name) for c in categories_for(membership)])
    if filterset.is_bound:
        filterset.is_valid()  # errors are shown at their fields; valid fields still filter
    sort = request.GET.get("sort") if request.GET.get("sort") in expense_filters.SORTS else default_sort
    items = expense_filters.sorted_by(filterset.qs, sort, default_sort)
    return {"filter": filterset, "sort": sort, "sorts": expense_filters.SORT_LABELS, "people": people,
            "items": items, "filtered": any(v for k, v in request.GET.items() if k != "sort")}


def filter_reimbursements(request, queryset) -> dict:
    filterset = reimbursement_filters.ReimbursementFilter(request.GET or None, queryset=queryset)
    if filterset.is_bound:
        filterset.is_valid()
    sorts = reimbursement_filters.SORTS
    sort = request.GET.get("sort") if request.GET.get("sort") in sorts else "-created"
    return {"filter": filterset, "sort": sort, "sorts": reimbursement_filters.SORT_LABELS, "people": False,
            "items": filterset.qs.order_by(*sorts[sort]),
            "filtered": any(v for k, v in request.GET.items() if k != "sort")}
