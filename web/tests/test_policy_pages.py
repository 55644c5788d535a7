"""The policy and delegation forms: who may post them, another organisation's objects are 404,
CSRF is required, and a refusal is shown without writing anything."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from events.models import Event
from expenses.models import CategoryRule, Delegation, PolicyVersion

ROLES = ["employee", "manager", "finance", "admin"]


@pytest.fixture
def scenarios(committed_scenarios):
    return committed_scenarios


def forms(scenario):
    in_a_week = (scenario.team.org.today() + dt.timedelta(days=7)).isoformat()
    return {
        "auto-approval": (reverse("policy-auto-approval"),
                          {"auto_approve_under": "20.00", "auto_approve_sample_percent": "10"}, {"admin"}),
        "category rule": (reverse("policy-category-rule", kwargs={"category_id": scenario.team.category.pk}),
                          {"max_amount": "700.00", "on_violation": "flag"}, {"admin"}),
        "name delegate": (reverse("delegation-create"),
                          {"delegate_id": scenario.team.colleague.pk, "ends_on": in_a_week}, {"manager", "admin"}),
        "end delegation": (reverse("delegation-end", kwargs={"delegation_id": scenario.delegation.pk}), {},
                           {"manager", "admin"}),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("form", ["auto-approval", "category rule", "name delegate", "end delegation"])
@pytest.mark.parametrize("role", ROLES)
def test_policy_forms_are_for_their_roles_only(client, scenarios, form, role):
    mine, _ = scenarios
    url, data, allowed = forms(mine)[form]
    client.force_login(mine.member(role).user)
    events = Event.objects.count()
    response = client.post(url, data)
    if role in allowed:
        assert response.status_code == 302
        # policy.changed / delegation.granted / delegation.ended; the manager's new delegate also
        # ends their current delegation (delegation.ended + delegation.granted)
        assert Event.objects.count() == events + (2 if (form, role) == ("name delegate", "manager") else 1)
    else:
        assert response.status_code == 403
        assert Event.objects.count() == events


@pytest.mark.django_db
@pytest.mark.parametrize("form", ["category rule", "end delegation"])
def test_another_organisations_category_or_delegation_is_404(client, scenarios, form):
    mine, theirs = scenarios
    url, data, _ = forms(theirs)[form]
    client.force_login(mine.team.admin.user)
    rules = list(CategoryRule.objects.values_list("pk", "max_amount"))
    assert client.post(url, data).status_code == 404
    assert list(CategoryRule.objects.values_list("pk", "max_amount")) == rules
    assert Delegation.objects.get(pk=theirs.delegation.pk).ended_at is None


@pytest.mark.django_db
def test_policy_forms_need_csrf(scenarios):
    mine, _ = scenarios
    client = Client(enforce_csrf_checks=True)
    client.force_login(mine.team.admin.user)
    url, data, _ = forms(mine)["category rule"]
    assert client.post(url, data).status_code == 403
    assert client.get(url).status_code == 405


@pytest.mark.django_db
def test_a_refused_change_is_shown_and_writes_nothing(client, scenarios):
    mine, _ = scenarios
    client.force_login(mine.team.admin.user)
    versions = PolicyVersion.objects.count()
    response = client.post(reverse("policy-auto-approval"), {"auto_approve_under": "abc",
                                                              "auto_approve_sample_percent": "10"}, follow=True)
    assert "is not an amount" in response.content.decode()
    assert PolicyVersion.objects.count() == versions


def _berlin_admin():
    from expenses.tests.factories import make_team
    from organizations.tests.factories import OrganizationFactory

    return make_team(org=OrganizationFactory(locale="de_DE", time_zone="Europe/Berlin"))


@pytest.mark.django_db
def test_a_berlin_admin_types_1_comma_50_and_the_page_shows_it_back_the_same_way(client):
    from decimal import Decimal

    from expenses.models import PolicySettings

    team = _berlin_admin()
    client.force_login(team.admin.user)
    client.post(reverse("policy-category-rule", kwargs={"category_id": team.category.pk}),
                {"max_amount": "1.234,50", "receipt_required_above": "1,50", "on_violation": "flag"})
    client.post(reverse("policy-auto-approval"), {"auto_approve_under": "12,50", "auto_approve_sample_percent": "5"})
    rule = CategoryRule.objects.get(category=team.category)
    assert (rule.max_amount, rule.receipt_required_above) == (Decimal("1234.50"), Decimal("1.50"))
    assert PolicySettings.objects.get(organization=team.org).auto_approve_under == Decimal("12.50")
    html = client.get(reverse("policy")).content.decode()
    assert 'value="1.234,50"' in html and 'value="1,50"' in html and 'value="12,50"' in html


@pytest.mark.django_db
def test_a_london_admin_types_1_point_50(client):
    from decimal import Decimal

    from expenses.tests.factories import make_team

    team = make_team()  # en_GB
    client.force_login(team.admin.user)
    client.post(reverse("policy-category-rule", kwargs={"category_id": team.category.pk}),
                {"max_amount": "1,234.50", "on_violation": "block"})
    assert CategoryRule.objects.get(category=team.category).max_amount == Decimal("1234.50")


@pytest.mark.django_db
@pytest.mark.parametrize(("form", "typed", "message"), [
    ("category rule", {"max_amount": "1.50"}, "{category}: Maximum per expense: '1.50' is not an amount; write it "
                                              "like 12,50."),
    ("category rule", {"max_amount": "20,00", "receipt_required_above": "zwölf"},
     "{category}: Receipt above: 'zwölf' is not an amount; write it like 12,50."),
    ("auto-approval", {"auto_approve_under": "1,5,0"},
     "Approve compliant expenses under: '1,5,0' is not an amount; write it like 12,50."),
])
def test_a_berlin_amount_typed_the_wrong_way_names_the_field_and_writes_nothing(client, form, typed, message):
    team = _berlin_admin()
    client.force_login(team.admin.user)
    url = (reverse("policy-category-rule", kwargs={"category_id": team.category.pk}) if form == "category rule"
           else reverse("policy-auto-approval"))
    versions, events = PolicyVersion.objects.count(), Event.objects.count()
    response = client.post(url, {"on_violation": "flag", "auto_approve_sample_percent": "5", **typed}, follow=True)
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [message.format(category=team.category.name)]
    assert (PolicyVersion.objects.count(), Event.objects.count()) == (versions, events)
    assert not CategoryRule.objects.filter(category=team.category).exists()


def _input_tag(html: str, input_id: str) -> str:
    """The attributes of the input ``input_id`` in ``html``."""
    return html.split(f'id="{input_id}"')[1].split(">")[0]


@pytest.mark.django_db
def test_a_refused_rule_comes_back_with_what_was_typed_and_the_field_marked(client):
    team = _berlin_admin()
    client.force_login(team.admin.user)
    url = reverse("policy-category-rule", kwargs={"category_id": team.category.pk})
    response = client.post(url, {"max_amount": "20,00", "receipt_required_above": "zwölf", "max_age_days": "30",
                                 "on_violation": "flag"})
    html = response.content.decode()
    code = team.category.code
    assert response.status_code == 200  # the page again, not a redirect: nothing typed is lost
    assert f'id="rule-{code}-receipt_required_above"' in html
    marked = _input_tag(html, f"rule-{code}-receipt_required_above")
    assert 'aria-invalid="true"' in marked and "data-focus" in marked and 'value="zwölf"' in marked
    beside = html.split(f'id="rule-{code}-receipt_required_above-error">')[1]
    assert beside.startswith("Receipt above: &#x27;zwölf&#x27; is not an amount")
    kept = _input_tag(html, f"rule-{code}-max_amount")
    assert 'value="20,00"' in kept and "aria-invalid" not in kept
    assert html.count('aria-invalid="true"') == 1
    assert not CategoryRule.objects.filter(category=team.category).exists()


@pytest.mark.django_db
def test_a_refused_command_marks_the_field_it_names(client):
    team = _berlin_admin()
    client.force_login(team.admin.user)
    url = reverse("policy-category-rule", kwargs={"category_id": team.category.pk})
    html = client.post(url, {"max_amount": "", "receipt_required_above": "", "max_age_days": "",
                             "on_violation": "flag"}).content.decode()
    marked = _input_tag(html, f"rule-{team.category.code}-max_amount")
    assert 'aria-invalid="true"' in marked  # "Give at least one limit", at the first limit's input
    auto = client.post(reverse("policy-auto-approval"), {"auto_approve_under": "12,50",
                                                         "auto_approve_sample_percent": "250"}).content.decode()
    sample = auto.split('id="auto-sample"')[1].split(">")[0]
    assert 'aria-invalid="true"' in sample and 'value="250"' in sample
    assert 'value="12,50"' in auto.split('id="auto-under"')[1].split(">")[0]
