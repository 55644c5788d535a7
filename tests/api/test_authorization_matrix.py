"""Every endpoint x role (employee, manager, finance, admin, anonymous) x own / other organisation.

Object endpoints answer 404 for another organisation's objects (the role gate, where there is
one, comes first: 403). List endpoints never leak another organisation's rows. The public
endpoints (obtain a token, health, schema, docs) answer every caller alike, anonymous included."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from expenses.tests.factories import receipt_file

ROLES = ["employee", "manager", "finance", "admin", "anonymous"]
ALL = dict.fromkeys(["employee", "manager", "finance", "admin"], 200)


def gate(allowed, ok=200, denied=403):
    return {role: (ok if role in allowed else denied) for role in ROLES[:4]}


FIN = ("finance", "admin")
# (name, method, path template, body, expected own {role: status}, expected other {role: status} or None)
ENDPOINTS = [
    ("list expenses", "get", "/api/v1/expenses/", None, ALL, None),
    ("create expense", "post", "/api/v1/expenses/", "new_expense", dict.fromkeys(ALL, 201), None),
    ("approval queue", "get", "/api/v1/expenses/awaiting-approval/", None, gate(("manager", "finance", "admin")),
     None),
    ("expense detail", "get", "/api/v1/expenses/{submitted}/", None, ALL, "404"),
    ("update draft", "patch", "/api/v1/expenses/{draft}/", {"merchant": "X"}, gate(("employee",)), "404"),
    ("delete draft", "delete", "/api/v1/expenses/{draft}/", None, gate(("employee",), ok=204), "404"),
    ("upload receipt", "multipart", "/api/v1/expenses/{draft}/receipt/", None, gate(("employee",)), "404"),
    ("submit", "post", "/api/v1/expenses/{draft}/submit/", {}, gate(("employee",)), "404"),
    # One result per id: another organisation's id is answered "not_found" inside a 200, never decided.
    ("bulk approve", "post", "/api/v1/expenses/bulk-approve/", "bulk", gate(("manager", "finance", "admin")), None),
    ("bulk reject", "post", "/api/v1/expenses/bulk-reject/", "bulk", gate(("manager", "finance", "admin")), None),
    ("comments", "get", "/api/v1/expenses/{submitted}/comments/", None, ALL, "404"),
    ("comment", "post", "/api/v1/expenses/{submitted}/comments/", {"body": "Which client?"}, dict.fromkeys(ALL, 201),
     "404"),
    ("return", "post", "/api/v1/expenses/{submitted}/return/", {"reason": "Which client?"}, gate(("manager", "admin")),
     "404"),
    ("withdraw", "post", "/api/v1/expenses/{submitted}/withdraw/", {}, gate(("employee",)), "404"),
    ("approve", "post", "/api/v1/expenses/{submitted}/approve/", {}, gate(("manager", "admin")), "404"),
    ("reject", "post", "/api/v1/expenses/{submitted}/reject/", {"reason": "no"}, gate(("manager", "admin")), "404"),
    ("timeline", "get", "/api/v1/expenses/{submitted}/timeline/", None, ALL, "404"),
    ("summary", "get", "/api/v1/summary/?month={month}", None, gate(("manager", "finance", "admin")), None),
    ("reimbursements", "get", "/api/v1/reimbursements/", None, ALL, None),
    ("mark failed", "post", "/api/v1/reimbursements/{in_batch}/fail/", {"reason": "x"}, gate(FIN), "404fin"),
    ("requeue", "post", "/api/v1/reimbursements/{failed}/requeue/", {}, gate(FIN), "404fin"),
    ("payout batches", "get", "/api/v1/payout-batches/", None, gate(FIN), None),
    ("payout batches filtered", "get", "/api/v1/payout-batches/?state=open&amount_min=0.01&created_from=2026-01-01",
     None, gate(FIN), None),
    ("payout run", "post", "/api/v1/payout-batches/run/", {}, gate(FIN, ok=201), None),
    ("payment file", "get", "/api/v1/payout-batches/{batch}/file/", None, gate(FIN), "404fin"),
    ("confirm batch", "post", "/api/v1/payout-batches/{batch}/confirm/", {}, gate(FIN), "404fin"),
    ("journal entries", "get", "/api/v1/ledger/entries/", None, gate(FIN), None),
    ("journal entries filtered", "get", "/api/v1/ledger/entries/?amount_min=0.01&kind=standing&date_from=2026-01-01",
     None, gate(FIN), None),
    ("trial balance", "get", "/api/v1/ledger/trial-balance/", None, gate(FIN), None),
    ("account ledger", "get", "/api/v1/ledger/accounts/{account}/", None, gate(FIN), "404fin"),
    ("account ledger filtered", "get", "/api/v1/ledger/accounts/{account}/?amount_min=0.01&q=e", None, gate(FIN),
     "404fin"),
    ("journal export", "get", "/api/v1/ledger/export/", None, gate(FIN), None),
    ("journal export datev", "get", "/api/v1/ledger/export/?format=datev&from=2026-01-01&to=2026-12-31", None,
     gate(FIN), None),
    ("journal export since last", "get", "/api/v1/ledger/export/?since=last", None, gate(FIN), None),
    ("accounting exports", "get", "/api/v1/ledger/exports/", None, gate(FIN), None),
    ("sepa file", "get", "/api/v1/payout-batches/{batch}/sepa/", None, gate(FIN), "404fin"),
    ("notifications", "get", "/api/v1/notifications/", None, ALL, None),
    ("read all", "post", "/api/v1/notifications/read-all/", {}, ALL, None),
    ("read one", "post", "/api/v1/notifications/{notification}/read/", {}, gate(("manager",), denied=404), "404"),
    ("audit trail", "get", "/api/v1/audit/", None, gate(FIN), None),
    ("audit verify", "get", "/api/v1/audit/verify/", None, gate(("admin",)), None),
    ("events", "get", "/api/v1/events/", None, gate(("admin",)), None),
    ("deliveries", "get", "/api/v1/deliveries/", None, gate(("admin",)), None),
    ("replay matching", "post", "/api/v1/deliveries/replay/", {}, gate(("admin",)), None),
    ("replay one", "post", "/api/v1/deliveries/{dead_delivery}/replay/", None, gate(("admin",)), "404admin"),
    ("policy", "get", "/api/v1/policy/", None, ALL, None),
    ("change policy", "patch", "/api/v1/policy/", {"auto_approve_sample_percent": 5}, gate(("admin",)), None),
    ("policy versions", "get", "/api/v1/policy/versions/", None, ALL, None),
    ("set category rule", "put", "/api/v1/policy/category-rules/{category}/", {"max_amount": "900.00"},
     gate(("admin",)), "404admin"),
    ("remove category rule", "delete", "/api/v1/policy/category-rules/{category}/", None, gate(("admin",), ok=204),
     "404admin"),
    ("delegations", "get", "/api/v1/delegations/", None, ALL, None),
    ("name delegate", "post", "/api/v1/delegations/", "new_delegation", gate(("manager", "admin"), ok=201), None),
    ("end delegation", "post", "/api/v1/delegations/{delegation}/end/", None, gate(("manager", "admin")), "404mgr"),
    ("notification preferences", "get", "/api/v1/notifications/preferences/", None, ALL, None),
    ("set preference", "put", "/api/v1/notifications/preferences/expense_submitted/",
     {"in_app": True, "email": False, "digest": True}, ALL, None),
    ("webhook endpoints", "get", "/api/v1/webhooks/endpoints/", None, gate(("admin",)), None),
    ("add webhook endpoint", "post", "/api/v1/webhooks/endpoints/",
     {"url": "https://hooks.example.com/new", "event_types": ["expense.approved"]}, gate(("admin",), ok=201), None),
    ("webhook endpoint", "get", "/api/v1/webhooks/endpoints/{endpoint}/", None, gate(("admin",)), "404admin"),
    ("change webhook endpoint", "patch", "/api/v1/webhooks/endpoints/{endpoint}/", {"description": "ERP"},
     gate(("admin",)), "404admin"),
    ("delete webhook endpoint", "delete", "/api/v1/webhooks/endpoints/{endpoint}/", None, gate(("admin",), ok=204),
     "404admin"),
    ("rotate webhook secret", "post", "/api/v1/webhooks/endpoints/{endpoint}/rotate-secret/", {}, gate(("admin",)),
     "404admin"),
    ("test webhook", "post", "/api/v1/webhooks/endpoints/{endpoint}/test/", None, gate(("admin",), ok=202),
     "404admin"),
    ("webhook deliveries", "get", "/api/v1/webhooks/endpoints/{endpoint}/deliveries/", None, gate(("admin",)),
     "404admin"),
    ("replay webhooks", "post", "/api/v1/webhooks/endpoints/{endpoint}/replay/", {"since": "2026-01-01T00:00:00Z"},
     gate(("admin",)), "404admin"),
    ("replay webhook", "post", "/api/v1/webhooks/deliveries/{webhook_delivery}/replay/", None, gate(("admin",)),
     "404admin"),
    ("exchange rates", "get", "/api/v1/exchange-rates/", None, ALL, None),
    ("set exchange rate", "post", "/api/v1/exchange-rates/", "new_rate", gate(FIN, ok=201), None),
    ("bank details", "get", "/api/v1/members/{member}/bank-details/", None, ALL, "404"),
    ("set bank details", "put", "/api/v1/members/{member}/bank-details/", "bank_details",
     gate(("employee", "finance", "admin")), "404"),
    ("debtor account", "get", "/api/v1/organization/debtor-account/", None, gate(FIN), None),
    ("set debtor account", "put", "/api/v1/organization/debtor-account/", "debtor_account", gate(FIN), None),
    ("revoke token", "delete", "/api/v1/auth/token/", None, dict.fromkeys(ALL, 204), None),
]
# Open to anyone, anonymous included: (name, method, path, body, status for every caller). Health is
# 503 here because no worker or beat sends heartbeats in this test; what matters is that it needs no
# login and answers everyone alike. Obtaining a token needs only the credentials.
PUBLIC = [
    ("obtain token", "post", "/api/v1/auth/token/", "credentials", 200),
    ("health", "get", "/api/v1/health/", None, 503),
    ("schema", "get", "/api/v1/schema/", None, 200),
    ("docs", "get", "/api/v1/docs/", None, 200),
]


def _ids(s):
    return {"draft": s.draft.pk, "submitted": s.submitted.pk, "in_batch": s.in_batch.pk, "failed": s.failed.pk,
            "batch": s.batch.pk, "account": s.account.pk, "notification": s.notification.pk,
            "dead_delivery": s.dead_delivery.pk, "month": s.submitted.month, "category": s.team.category.pk,
            "delegation": s.delegation.pk, "endpoint": s.webhook_endpoint.pk, "webhook_delivery": s.webhook_delivery.pk,
            "member": s.team.employee.pk}


def _other_expected(kind, own):
    if kind is None:
        return own
    if kind == "404":
        return dict.fromkeys(own, 404)
    allowed = {"404fin": FIN, "404admin": ("admin",), "404mgr": ("manager", "admin")}[kind]
    return {role: (404 if role in allowed else own[role]) for role in own}


CASES = [pytest.param(e, role, org, id=f"{e[0]}-{role}-{org}") for e in ENDPOINTS for role in ROLES
         for org in ("own", "other")]
PUBLIC_CASES = [pytest.param(e, role, org, id=f"{e[0]}-{role}-{org}") for e in PUBLIC for role in ROLES
                for org in ("own", "other")]


@pytest.fixture
def scenarios(committed_scenarios):
    return committed_scenarios


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "role", "org"), CASES)
def test_authorization_matrix(scenarios, endpoint, role, org):
    name, method, template, body, own_expected, other_kind = endpoint
    mine, theirs = scenarios
    target = mine if org == "own" else theirs
    path = template.format(**_ids(target))
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(mine.member(role).user)
    if body == "new_expense":
        body = {"cost_center_id": mine.team.cost_center.pk, "category_id": mine.team.category.pk,
                "amount": "12.00", "merchant": "Kiosk", "incurred_on": mine.submitted.incurred_on.isoformat()}
    if body == "bulk":
        body = {"ids": [str(target.submitted.pk)], "reason": "no"}
    if body == "new_delegation":
        in_a_week = mine.team.org.today() + dt.timedelta(days=7)
        body = {"delegate_id": mine.team.colleague.pk, "ends_on": in_a_week.isoformat()}
    if body == "new_rate":
        body = {"quote": "USD", "date": (mine.team.org.today() - dt.timedelta(days=1)).isoformat(), "rate": "1.1",
                "reason": "matrix"}
    if body == "bank_details":
        body = {"holder": "Eve Employee", "iban": "DE89 3704 0044 0532 0130 00"}
    if body == "debtor_account":
        body = {"debtor_name": "Acme GmbH", "debtor_iban": "DE02120300000000202051", "debtor_bic": "BYLADEM1001"}
    if method == "multipart":
        response = client.post(path, {"receipt": receipt_file()}, format="multipart")
    elif method == "get":
        response = client.get(path)
    else:
        response = getattr(client, method)(path, body, format="json")

    expected = 401 if role == "anonymous" else (
        own_expected if org == "own" else _other_expected(other_kind, own_expected))[role]
    assert response.status_code == expected, (name, role, org, response.content[:300])
    if response.status_code >= 400:
        assert set(response.json()) == {"code", "message", "details"}
    elif method == "get" and response["Content-Type"].startswith("application/json") and org == "own":
        foreign = {str(theirs.submitted.pk), str(theirs.draft.pk), str(theirs.in_batch.pk), str(theirs.batch.pk)}
        assert not foreign & set(_all_ids(response.json())), f"{name} leaked another organisation's rows"


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "role", "org"), PUBLIC_CASES)
def test_public_endpoints_answer_everyone_alike(scenarios, endpoint, role, org, redis_client):
    name, method, path, body, expected = endpoint
    mine, theirs = scenarios
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(mine.member(role).user)
    if body == "credentials":  # this or the other organisation's employee
        user = (mine if org == "own" else theirs).member("employee").user
        user.set_password("outlay-test-password")  # rehash with this test's hasher (rolled back after)
        user.save(update_fields=["password"])
        body = {"username": user.username, "password": "outlay-test-password"}
    response = getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)
    assert response.status_code == expected, (name, role, org, response.content[:300])


def _all_ids(payload):
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in ("id", "expense_id", "object_id", "batch_id") and value is not None:
                yield str(value)
            yield from _all_ids(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from _all_ids(item)
