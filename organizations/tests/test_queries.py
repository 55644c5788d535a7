"""Organisation scoping: a user never sees another organisation's rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from organizations import queries
from organizations.models import Category, CostCenter, Membership, Organization, Role

pytestmark = pytest.mark.django_db


def _member(org, username, role=Role.EMPLOYEE, reports_to=None):
    user = get_user_model().objects.create_user(username=username, password="x-test-pass-1")
    return Membership.objects.create(user=user, organization=org, role=role, reports_to=reports_to)


@pytest.fixture
def two_orgs():
    acme = Organization.objects.create(name="Acme", slug="acme", currency="EUR")
    globex = Organization.objects.create(name="Globex", slug="globex", currency="USD")
    for org, code in ((acme, "ENG"), (acme, "OPS"), (globex, "ENG")):
        CostCenter.objects.create(organization=org, code=code, name=code, monthly_budget=Decimal("1000"))
    return acme, globex


def test_scope_returns_only_the_callers_organisation(two_orgs):
    acme, globex = two_orgs
    eve = _member(acme, "eve")
    gus = _member(globex, "gus")

    assert {c.organization_id for c in queries.cost_centers_for(eve)} == {acme.pk}
    assert queries.cost_centers_for(eve).count() == 2
    assert list(queries.cost_centers_for(gus).values_list("organization__name", flat=True)) == ["Globex"]
    assert list(queries.members_for(gus)) == [gus]


def test_scope_cannot_reach_a_row_of_another_organisation_by_id(two_orgs):
    acme, globex = two_orgs
    eve = _member(acme, "eve")
    foreign = CostCenter.objects.get(organization=globex)

    assert not queries.scope(CostCenter.objects.filter(pk=foreign.pk), eve).exists()


def test_membership_for_user_ignores_anonymous_inactive_and_tenantless_users(two_orgs):
    from django.contrib.auth.models import AnonymousUser

    acme, _ = two_orgs
    eve = _member(acme, "eve")
    staff = get_user_model().objects.create_user(username="root-only", password="x-test-pass-1")

    assert queries.membership_for_user(eve.user) == eve
    assert queries.membership_for_user(AnonymousUser()) is None
    assert queries.membership_for_user(staff) is None
    eve.is_active = False
    eve.save(update_fields=["is_active"])
    eve.user.refresh_from_db()
    assert queries.membership_for_user(eve.user) is None


def test_reporting_line_follows_managers_upwards_and_stops_at_cycles(two_orgs):
    acme, _ = two_orgs
    boss = _member(acme, "boss", Role.MANAGER)
    maria = _member(acme, "maria", Role.MANAGER, reports_to=boss)
    eve = _member(acme, "eve", reports_to=maria)
    mark = _member(acme, "mark", Role.MANAGER)

    assert queries.reporting_chain(eve) == [maria, boss]
    assert queries.is_in_reporting_line(boss, eve) and queries.is_in_reporting_line(maria, eve)
    assert not queries.is_in_reporting_line(mark, eve)
    boss.reports_to = eve  # a cycle entered by mistake must not loop forever
    boss.save(update_fields=["reports_to"])
    assert queries.reporting_chain(eve) == [maria, boss]


def test_finance_approvers_are_finance_and_admins_of_that_organisation_only(two_orgs):
    acme, globex = two_orgs
    fin = _member(acme, "fin", Role.FINANCE)
    admin = _member(acme, "adm", Role.ADMIN)
    _member(acme, "maria", Role.MANAGER)
    _member(globex, "gfin", Role.FINANCE)

    assert set(queries.finance_approvers(acme.pk)) == {fin, admin}


def test_the_reporting_line_is_one_query_up_or_down_however_deep(two_orgs, django_assert_num_queries):
    acme, _ = two_orgs
    top = _member(acme, "top", Role.MANAGER)
    line = [top]
    for level in range(4):
        line.append(_member(acme, f"level{level}", Role.MANAGER, reports_to=line[-1]))
    employee = Membership.objects.get(pk=_member(acme, "emp", reports_to=line[-1]).pk)  # nothing cached

    with django_assert_num_queries(1):
        chain = queries.reporting_chain(employee)
    with django_assert_num_queries(1):
        assert queries.is_in_reporting_line(top, employee)

    assert chain == list(reversed(line))
    assert not queries.is_in_reporting_line(employee, top) and not queries.is_in_reporting_line(top, top)


def test_filter_choices_agree_with_the_querysets_they_replace(two_orgs):
    """One statement for a list's filter choices: the same rows, labels and order as
    ``cost_centers_for``, ``categories_for`` and the organisation's active members, and nothing
    inactive or of another organisation."""
    acme, globex = two_orgs
    eve = _member(acme, "eve")
    ann = _member(acme, "ann")
    ann.user.first_name, ann.user.last_name = "Ann", "Lee"
    ann.user.save()
    _member(globex, "gus")
    gone = _member(acme, "zed")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    CostCenter.objects.create(organization=acme, code="ADM", name="Admin", monthly_budget=Decimal("1"), is_active=False)
    for org, name in ((acme, "Travel"), (acme, "Meals"), (globex, "Books")):
        Category.objects.create(organization=org, code=name[:3].upper(), name=name)

    choices = queries.filter_choices(eve, people=True)

    assert choices.cost_centers == [(c.pk, f"{c.code} {c.name}") for c in queries.cost_centers_for(eve)]
    assert [label for _, label in choices.cost_centers] == ["ENG ENG", "OPS OPS"]
    assert choices.categories == [(c.pk, c.name) for c in queries.categories_for(eve)]
    assert [label for _, label in choices.categories] == ["Meals", "Travel"]
    members = Membership.objects.filter(organization=acme, is_active=True).order_by("user__username")
    assert choices.employees == [(m.pk, m.display_name) for m in members]
    assert [label for _, label in choices.employees] == ["Ann Lee", "eve"]
    assert queries.filter_choices(eve, people=False).employees == []
