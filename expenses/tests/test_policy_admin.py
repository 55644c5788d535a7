"""A rule changed in the Django admin is a policy change like one made in the app: a new version,
a snapshot and a published (audited) policy.changed naming the admin user."""

from __future__ import annotations

import pytest

from events.models import Event
from expenses import policy
from expenses.models import CategoryRule, PolicySettings, PolicyVersion
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def test_saving_and_deleting_a_rule_in_the_admin_publishes_policy_changes(admin_client, admin_user):
    team = make_team()
    response = admin_client.post("/admin/expenses/categoryrule/add/", {
        "organization": team.org.pk, "category": team.category.pk, "max_amount": "75.00",
        "receipt_required_above": "", "max_age_days": "", "on_violation": "flag"})
    assert response.status_code == 302, response.content[:500]
    rule = CategoryRule.objects.get()

    admin_client.post(f"/admin/expenses/categoryrule/{rule.pk}/delete/", {"post": "yes"})

    assert not CategoryRule.objects.exists()
    versions = list(PolicyVersion.objects.filter(organization=team.org).order_by("number"))
    assert [(v.number, v.changed_by) for v in versions] == [(1, f"admin:{admin_user.username}"),
                                                             (2, f"admin:{admin_user.username}")]
    assert versions[0].rules["category_rules"][team.category.code]["max_amount"] == "75.00"
    events = list(Event.objects.filter(type="policy.changed").order_by("occurred_at"))
    assert [e.payload["policy_version"] for e in events] == [1, 2]
    assert events[0].actor_label == f"admin:{admin_user.username}"[:40]


def rule_form(team, **values):
    return {"organization": team.org.pk, "category": team.category.pk, "max_amount": "",
            "receipt_required_above": "", "max_age_days": "", "on_violation": "block", **values}


def test_a_rule_without_any_limit_is_refused_in_the_admin_as_in_the_app(admin_client):
    team = make_team()

    response = admin_client.post("/admin/expenses/categoryrule/add/", rule_form(team))

    assert response.status_code == 200  # the form again, with the command's message
    assert "Give at least one limit" in response.content.decode()
    assert not CategoryRule.objects.exists() and not PolicyVersion.objects.exists()
    assert not Event.objects.filter(type="policy.changed").exists()


def test_the_admin_writes_the_same_change_text_as_the_commands(admin_client, admin_user):
    team = make_team()
    admin_client.post("/admin/expenses/categoryrule/add/", rule_form(team, max_amount="75.00", on_violation="flag"))
    settings = PolicySettings.objects.get(organization=team.org)  # the rule's change created it
    changed = admin_client.post(f"/admin/expenses/policysettings/{settings.pk}/change/", {
        "auto_approve_under": "30.00", "auto_approve_sample_percent": "20"})
    assert changed.status_code == 302
    in_the_admin = list(PolicyVersion.objects.order_by("number").values_list("change", flat=True))

    other = make_team()
    policy.category_rule_set(actor=other.admin, category_id=other.category.pk,
                             data={"max_amount": "75.00", "on_violation": "flag"})
    policy.policy_update(actor=other.admin, data={"auto_approve_under": "30.00", "auto_approve_sample_percent": 20})
    in_the_app = list(PolicyVersion.objects.filter(organization=other.org).order_by("number")
                      .values_list("change", flat=True))

    assert in_the_admin == [text.replace(other.category.name, team.category.name) for text in in_the_app]
    assert in_the_admin[1] == "Automatic approval: under 30.00 EUR, 20% sampled for review"
    assert set(PolicyVersion.objects.filter(organization=team.org).values_list("changed_by", flat=True)) == {
        f"admin:{admin_user.username}"}


def test_an_invalid_sample_percentage_is_refused_in_the_admin_and_changes_nothing(admin_client):
    team = make_team()

    response = admin_client.post("/admin/expenses/policysettings/add/", {
        "organization": team.org.pk, "auto_approve_under": "-5", "auto_approve_sample_percent": "20"})

    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not PolicyVersion.objects.exists() and not Event.objects.filter(type="policy.changed").exists()
