"""A tampered form post is a message on the page, never a 500, and changes nothing: every web
form validates what it posts (a browser's hidden fields and selects are not a guarantee)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from events.models import Event
from expenses.models import CategoryRule, Delegation, Expense, PolicySettings
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db

JUNK = ["abc", "-1", "1e999", "NaN", "9" * 40, "", "0x10", "2026-13-45", "\x00"]


def written() -> tuple:
    return (Event.objects.count(), Delegation.objects.count(), CategoryRule.objects.count(),
            list(PolicySettings.objects.values_list("version", flat=True)),
            list(Expense.objects.values_list("version", "amount", "merchant")))


def edit_body(team, expense, version):
    return {"merchant": "Kiosk", "amount": "12.00", "currency": team.org.currency,
            "incurred_on": team.org.today().isoformat(),
            "cost_center_id": str(team.cost_center.pk), "category_id": str(team.category.pk), "version": version}


@pytest.mark.parametrize("version", [junk for junk in JUNK if junk] + ["1.5", "3 4"])
def test_a_tampered_version_in_the_edit_form_is_a_message_not_a_500(client, version):
    team = make_team()
    expense = team.expense()
    client.force_login(team.employee.user)
    before = written()

    response = client.post(reverse("expense-edit", args=[expense.pk]), edit_body(team, expense, version))

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert written() == before


def test_the_current_version_saves_and_a_stale_one_is_refused_with_a_message(client):
    team = make_team()
    expense = team.expense()
    client.force_login(team.employee.user)

    stale = client.post(reverse("expense-edit", args=[expense.pk]), edit_body(team, expense, str(expense.version + 5)))
    assert stale.status_code == 200 and "changed since you loaded it" in stale.content.decode()
    saved = client.post(reverse("expense-edit", args=[expense.pk]), edit_body(team, expense, str(expense.version)))
    assert saved.status_code == 302 and Expense.objects.get(pk=expense.pk).merchant == "Kiosk"


FORMS = [
    ("employee", "expense-create", None, ["amount", "incurred_on", "cost_center_id", "category_id"]),
    ("admin", "policy-auto-approval", None, ["auto_approve_under", "auto_approve_sample_percent"]),
    ("admin", "policy-category-rule", "category",
     ["max_amount", "receipt_required_above", "max_age_days", "on_violation"]),
    ("manager", "delegation-create", None, ["delegate_id", "starts_on", "ends_on"]),
    ("admin", "ops-replay", None, ["delivery"]),
    ("employee", "notification-preferences", None, ["expense.submitted:delivery"]),
]


@pytest.mark.parametrize(("role", "name", "kwarg", "fields"), FORMS, ids=[f[1] for f in FORMS])
def test_every_web_form_answers_junk_without_a_500_and_writes_nothing(client, role, name, kwarg, fields):
    team = make_team()
    team.expense(submit=True)
    args = {None: [], "category": [team.category.pk]}[kwarg]
    client.force_login(getattr(team, role).user)
    for junk in JUNK:
        before = written()
        response = client.post(reverse(name, args=args), dict.fromkeys(fields, junk))
        # a message on the page, a redirect to one, or a plain 400 for a form with nothing to show
        assert response.status_code in (200, 302, 400), (junk, response.status_code)
        assert written() == before, junk


def test_webhook_pages_answer_a_missing_or_foreign_object_with_404(client):
    import uuid

    team = make_team()
    client.force_login(team.admin.user)
    for name, args in (("webhook-update", [uuid.uuid4()]), ("webhook-replay", [uuid.uuid4()]),
                       ("webhook-delivery-replay", [999999])):
        assert client.post(reverse(name, args=args), {"url": "x", "since": "junk"}).status_code == 404, name
