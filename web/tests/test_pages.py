"""Every page (every URL name in web/urls.py) x role (employee, manager, finance, admin, anonymous)
x own / other organisation.

A page renders (or a form post takes effect) for the roles that may use it, is refused (403) for
the others, and answers 404 for another organisation's object. A refused post changes nothing,
and a post aimed at another organisation's object changes nothing there. Anonymous callers are
sent to the log-in page. The committed scenarios are shared by the module; each test runs in a
transaction that is rolled back, so posts that succeed do not leak into the next case."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, reverse

from accounting.models import PayoutBatch
from events.models import Delivery
from expenses.models import Comment, Delegation, Expense, PolicySettings
from expenses.tests.factories import PNG
from notifications.models import Notification
from web import urls as web_urls

ROLES = ["employee", "manager", "finance", "admin", "anonymous"]
MEMBERS = ROLES[:4]
FIN = ("finance", "admin")
APPROVERS = ("manager", "finance", "admin")


def gate(allowed, ok=200, denied=403):
    return {role: (ok if role in allowed else denied) for role in MEMBERS}


DRAFT_HIDDEN = {"manager": 404, "finance": 404}


ALL = gate(MEMBERS)


def expense_state(which):
    return lambda s: Expense.objects.get(pk=getattr(s, which).pk).state


def expense_exists(which):
    return lambda s: Expense.objects.filter(pk=getattr(s, which).pk).exists()


def comment_count(s):
    return Comment.objects.filter(expense_id=s.submitted.pk).count()


def batch_state(s):
    return PayoutBatch.objects.get(pk=s.batch.pk).state


def delivery_status(s):
    return Delivery.objects.get(pk=s.dead_delivery.pk).status


def notification_read(s):
    return Notification.objects.get(pk=s.notification.pk).read_at is not None


def batches(s):
    return PayoutBatch.objects.filter(organization=s.team.org).count()


def policy_version(s):
    return PolicySettings.objects.filter(organization=s.team.org).values_list("version", flat=True).first()


def delegations(s):
    return Delegation.objects.filter(organization=s.team.org).count()


def delegation_open(s):
    return Delegation.objects.get(pk=s.delegation.pk).ended_at is None


IN_A_WEEK = "in a week"  # from the organisation's today, when the page is posted


# (url name, method, url kwarg -> scenario object, POST body, {role: status} in the own organisation,
#  "other": how another organisation's object answers: "404" for every role; "404gate" after the
#  role gate (a role refused everywhere keeps its 403, which says nothing about the object);
#  "body": the object is named in the form, and is silently out of scope; None: no object),
#  probe: what a successful post changes, and the roles whose post must change it).
PAGES = [
    ("home", "get", None, None, gate(MEMBERS, ok=302), None, None, ()),
    ("expense-list", "get", None, None, ALL, None, None, ()),
    ("expense-create", "get", None, None, ALL, None, None, ()),
    ("expense-detail", "get", "submitted", None, ALL, "404", None, ()),
    ("expense-status", "get", "submitted", None, ALL, "404", None, ()),
    ("expense-timeline", "get", "submitted", None, ALL, "404", None, ()),
    ("expense-receipt", "get", "submitted", None, ALL, "404", None, ()),
    # Only the owner edits a draft; the others who can see it get 403, other organisations 404.
    # A draft is invisible to managers and finance (issue 17): 404, where admins get the owner's 403.
    ("expense-edit", "get", "draft", None, {**gate(("employee",)), **DRAFT_HIDDEN}, "404", None, ()),
    # Submit/withdraw/approve/reject: the command refuses a caller the role gate let through
    # (not the owner, not an approver of this expense) with a message; the probe proves nothing moved.
    ("expense-submit", "post", "draft", {}, {**gate(MEMBERS, ok=302), **DRAFT_HIDDEN}, "404", expense_state("draft"),
     ("employee",)),
    ("expense-delete", "post", "draft", {}, gate(MEMBERS, ok=302), "404", expense_exists("draft"), ("employee",)),
    ("expense-comment", "post", "submitted", {"body": "Which client?"}, gate(MEMBERS, ok=302), "404", comment_count,
     MEMBERS),
    ("expense-return", "post", "submitted", {"reason": "Which client?"}, gate(APPROVERS, ok=302), "404gate",
     expense_state("submitted"), ("manager", "admin")),
    ("expense-withdraw", "post", "submitted", {}, gate(MEMBERS, ok=302), "404", expense_state("submitted"),
     ("employee",)),
    ("expense-approve", "post", "submitted", {}, gate(APPROVERS, ok=302), "404gate", expense_state("submitted"),
     ("manager", "admin")),
    ("expense-reject", "post", "submitted", {"reason": "no"}, gate(APPROVERS, ok=302), "404gate",
     expense_state("submitted"), ("manager", "admin")),
    ("approval-queue", "get", None, None, gate(APPROVERS), None, None, ()),
    # Bulk decisions name expenses in the form: another organisation's is answered "not found", never decided.
    ("approval-queue-decide", "post", None, {"ids": "submitted", "decision": "approve"}, gate(APPROVERS), "body",
     expense_state("submitted"), ("manager", "admin")),
    ("dashboard", "get", None, None, gate(APPROVERS), None, None, ()),
    ("reimbursement-list", "get", None, None, ALL, None, None, ()),
    ("batch-list", "get", None, None, gate(FIN), None, None, ()),
    ("payout-run", "post", None, {}, gate(FIN, ok=302), None, batches, FIN),
    ("batch-file", "get", "batch", None, gate(FIN), "404gate", None, ()),
    ("batch-confirm", "post", "batch", {}, gate(FIN, ok=302), "404gate", batch_state, FIN),
    ("trial-balance", "get", None, None, gate(FIN), None, None, ()),
    ("ledger-export", "get", None, None, gate(FIN), None, None, ()),
    ("journal", "get", None, None, gate(FIN), None, None, ()),
    ("my-bank-details", "get", None, None, ALL, None, None, ()),
    ("bank-details", "get", "employee_membership", None, ALL, "404gate", None, ()),
    ("account-ledger", "get", "account", None, gate(FIN), "404gate", None, ()),
    ("operations", "get", None, None, gate(("admin",)), None, None, ()),
    # The replay form names deliveries by id: another organisation's id is silently out of scope.
    ("ops-replay", "post", None, {"delivery": "dead_delivery"}, gate(("admin",), ok=302), "body",
     delivery_status, ("admin",)),
    ("event-catalogue", "get", None, None, ALL, None, None, ()),
    ("notification-list", "get", None, None, ALL, None, None, ()),
    ("notification-badge", "get", None, None, ALL, None, None, ()),
    ("notification-read-all", "post", None, {}, gate(MEMBERS, ok=302), None, None, ()),
    ("notification-preferences", "post", None, {}, gate(MEMBERS, ok=302), None, None, ()),
    # A notification is its recipient's (the manager's): everyone else gets 404, not 403.
    ("notification-read", "post", "notification", {}, gate(("manager",), ok=302, denied=404), "404",
     notification_read, ("manager",)),
    ("policy", "get", None, None, ALL, None, None, ()),
    ("policy-auto-approval", "post", None, {"auto_approve_under": "20.00", "auto_approve_sample_percent": "10"},
     gate(("admin",), ok=302), None, policy_version, ("admin",)),
    ("policy-category-rule", "post", "category", {"max_amount": "700.00", "on_violation": "flag"},
     gate(("admin",), ok=302), "404gate", policy_version, ("admin",)),
    ("delegation", "get", None, None, ALL, None, None, ()),
    ("delegation-create", "post", None, {"delegate_id": "colleague", "ends_on": IN_A_WEEK},
     gate(("manager", "admin"), ok=302), None, delegations, ("manager", "admin")),
    ("delegation-end", "post", "delegation", {}, gate(("manager", "admin"), ok=302), "404gate", delegation_open,
     ("manager", "admin")),
    ("webhook-list", "get", None, None, gate(("admin",)), None, None, ()),
    ("webhook-detail", "get", "webhook_endpoint", None, gate(("admin",)), "404gate", None, ()),
    ("webhook-update", "post", "webhook_endpoint", {"description": "ERP"}, gate(("admin",), ok=302), "404gate",
     None, ()),
    ("webhook-rotate", "post", "webhook_endpoint", {}, gate(("admin",)), "404gate", None, ()),
    ("webhook-test", "post", "webhook_endpoint", {}, gate(("admin",), ok=302), "404gate", None, ()),
    ("webhook-replay", "post", "webhook_endpoint", {}, gate(("admin",), ok=302), "404gate", None, ()),
    ("webhook-delivery-replay", "post", "webhook_delivery", {}, gate(("admin",), ok=302), "404gate", None, ()),
    # Last: the admin's own case deletes the module's endpoint.
    ("webhook-delete", "post", "webhook_endpoint", {}, gate(("admin",), ok=302), "404gate", None, ()),
]
KWARG = {"draft": "expense_id", "submitted": "expense_id", "batch": "batch_id", "account": "account_id",
         "notification": "notification_id", "category": "category_id", "delegation": "delegation_id",
         "employee_membership": "membership_id", "webhook_endpoint": "endpoint_id", "webhook_delivery": "delivery_id"}
CASES = [pytest.param(page, role, org, id=f"{page[0]}-{role}-{org}") for page in PAGES for role in ROLES
         for org in ("own", "other")]


@pytest.fixture
def scenarios(committed_scenarios):
    return committed_scenarios


def test_the_matrix_covers_every_page():
    names = {p.name for p in web_urls.urlpatterns if isinstance(p, URLPattern)}
    assert names == {page[0] for page in PAGES}


def _expected(own, other_kind, role, org):
    if org == "own" or other_kind in (None, "body"):
        return own[role]
    if other_kind == "404":
        return 404
    return own[role] if own[role] == 403 else 404  # "404gate": the role gate first, then the object's org


@pytest.mark.django_db
@pytest.mark.parametrize(("page", "role", "org"), CASES)
def test_page_authorization(client, scenarios, page, role, org):
    name, method, key, body, own, other_kind, probe, changes_for = page
    mine, theirs = scenarios
    target = mine if org == "own" else theirs
    url = reverse(name, kwargs={KWARG[key]: getattr(target, key).pk} if key else None)
    if body and "delivery" in body:
        body = {"delivery": str(target.dead_delivery.pk)}
    if body and "ids" in body:
        body = {**body, "ids": str(target.submitted.pk)}
    if body and "delegate_id" in body:  # a member of the caller's own organisation
        body = {**body, "delegate_id": str(mine.team.colleague.pk),
                "ends_on": (mine.team.org.today() + dt.timedelta(days=7)).isoformat()}
    if role != "anonymous":
        client.force_login(mine.member(role).user)
    if name == "expense-receipt":  # the scenarios' files were written under another test's MEDIA_ROOT
        stored = Path(settings.MEDIA_ROOT, Expense.objects.get(pk=target.submitted.pk).receipt.name)
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(PNG)
    before = probe(target) if probe else None

    response = client.post(url, body) if method == "post" else client.get(url)

    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    else:
        assert response.status_code == _expected(own, other_kind, role, org), (name, role, org,
                                                                              response.content[:300])
    if probe:
        changed = probe(target) != before
        assert changed is (org == "own" and role in changes_for), (name, role, org, before, probe(target))
    if response.status_code == 200:
        assert "Content-Security-Policy" in response


@pytest.mark.django_db
def test_a_member_without_an_organisation_is_refused_everywhere(scenarios, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("drifter", password="x-drifter-pass-1"))
    mine, _ = scenarios
    for name in ("expense-list", "dashboard", "operations", "notification-list"):
        assert client.get(reverse(name)).status_code == 403
    assert client.get(reverse("expense-detail", kwargs={"expense_id": mine.submitted.pk})).status_code == 403


@pytest.mark.django_db
def test_state_changing_pages_refuse_get_and_need_csrf(scenarios):
    mine, _ = scenarios
    client = Client(enforce_csrf_checks=True)
    client.force_login(mine.team.manager.user)
    url = reverse("expense-approve", kwargs={"expense_id": mine.submitted.pk})
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
