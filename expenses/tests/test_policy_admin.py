"""A rule changed in the Django admin is a policy change like one made in the app: a new version,
a snapshot and a published (audited) policy.changed naming the admin user."""

from __future__ import annotations

import pytest

from events.models import Event
from expenses.models import CategoryRule, PolicyVersion
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
