"""A list opened without a query string draws its filter form from ``filtering._opened_forms``:
the same HTML as a form rendered anew, and never a stale one (a new choice, another
organisation's currency or people are another key)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from core.memo import LeastRecentlyUsed
from expenses.models import Expense
from expenses.tests.factories import make_team
from organizations.tests.factories import CostCenterFactory, MembershipFactory
from web.views import filtering

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch):
    monkeypatch.setattr(filtering, "_opened_forms", LeastRecentlyUsed(512))


def _fresh(membership, *, people: bool) -> str:
    """The form as the bound path draws it, for an empty query string: the filter set built anew."""
    choices = filtering.filter_choices(membership, people=people)
    filterset = filtering.expense_filters.ExpenseFilter(
        None, queryset=None, organization=membership.organization, typed_in_locale=True,
        employees=choices.employees, cost_centers=choices.cost_centers, categories=choices.categories)
    return filtering._render_form(filterset, filtering.expense_filters.SORT_LABELS, "submitted", people,
                                  filtered=False)


def _opened(membership, *, people: bool = True) -> str:
    request = RequestFactory().get("/approvals/")
    return filtering.filter_expenses(request, membership, Expense.objects.none(), default_sort="submitted",
                                     people=people)["filters_html"]


def test_the_kept_form_is_the_form_rendered_anew():
    team = make_team()
    first = _opened(team.manager)
    assert first == _fresh(team.manager, people=True)
    assert _opened(team.manager) is first  # the second opening is the kept one
    assert 'name="cost_center"' in first and team.cost_center.code in first


def test_a_new_choice_or_another_organisation_is_another_form():
    team = make_team()
    before = _opened(team.manager)
    added = CostCenterFactory(organization=team.org, code="NEW-CC")
    after = _opened(team.manager)
    assert after != before and added.code in after
    assert after == _fresh(team.manager, people=True)

    other = make_team()
    other.org.currency = "JPY"
    other.org.save()
    theirs = _opened(other.manager)
    assert "(JPY)" in theirs and team.cost_center.code not in theirs
    assert theirs == _fresh(other.manager, people=True)

    colleague = MembershipFactory(organization=team.org, reports_to=team.manager)
    assert colleague.display_name in _opened(team.manager)
    assert 'name="employee"' not in _opened(team.manager, people=False).replace('type="hidden" name="employee"', "")


def test_the_cache_is_bounded_and_drops_the_least_recently_used():
    kept = LeastRecentlyUsed(2)
    kept.put("a", "A")
    kept.put("b", "B")
    assert kept.get("a") == "A"  # "b" is now the least recently used
    kept.put("c", "C")
    assert kept.get("b") is None and kept.get("a") == "A" and kept.get("c") == "C"


def test_a_query_string_draws_the_form_anew_with_what_was_typed(client):
    team = make_team()
    client.force_login(team.manager.user)
    opened = client.get("/approvals/").content.decode()
    typed = client.get("/approvals/?q=Taxi%20%3Cb%3E").content.decode()
    assert 'value="Taxi &lt;b&gt;"' in typed and 'value="Taxi' not in opened
    assert client.get("/approvals/").content.decode().count('id="filters"') == 1
