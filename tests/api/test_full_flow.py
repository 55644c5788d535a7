"""The whole product through the API alone, with a real worker and beat doing the side effects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from expenses.tests.factories import make_team, receipt_file
from tests.support.processes import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def token_client(member) -> APIClient:
    key = APIClient().post("/api/v1/auth/token/", {"username": member.user.username,
                                                     "password": "outlay-test-password"}, format="json").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_create_submit_approve_pay_and_see_ledger_and_audit(celery_processes):
    celery_processes.worker()
    celery_processes.beat()
    team = make_team()
    employee, manager, finance, admin = (token_client(m) for m in (team.employee, team.manager, team.finance,
                                                                    team.admin))

    created = employee.post("/api/v1/expenses/", {
        "cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "123.45",
        "merchant": "Rail", "incurred_on": (team.org.today() - dt.timedelta(days=1)).isoformat()}, format="json")
    assert created.status_code == 201, created.content
    expense_id = created.json()["id"]
    upload = employee.post(f"/api/v1/expenses/{expense_id}/receipt/", {"receipt": receipt_file()}, format="multipart")
    assert upload.status_code == 200 and upload.json()["has_receipt"]
    assert employee.post(f"/api/v1/expenses/{expense_id}/submit/", {}, format="json").status_code == 200
    queue = manager.get("/api/v1/expenses/awaiting-approval/").json()
    assert [item["id"] for item in queue] == [expense_id]

    approved = manager.post(f"/api/v1/expenses/{expense_id}/approve/", {}, format="json",
                            HTTP_IDEMPOTENCY_KEY="approve-once")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"

    def settled():
        events = employee.get(f"/api/v1/expenses/{expense_id}/timeline/").json()
        return len(events) == 2 and all(e["settled"] for e in events) and events

    timeline = wait_until(settled, timeout=60, message="every effect of the approval")
    assert {d["subscriber"] for d in timeline[-1]["deliveries"]} >= {
        "accounting.post_approved_expense", "accounting.queue_reimbursement", "notifications.expense_approved",
        "audit.record", "expenses.monthly_spend"}

    batch = finance.post("/api/v1/payout-batches/run/", {}, format="json")
    assert batch.status_code == 201 and Decimal(batch.json()["total"]) == Decimal("123.45")
    payment_file = finance.get(f"/api/v1/payout-batches/{batch.json()['id']}/file/")
    assert b"123.45" in payment_file.content
    assert finance.post(f"/api/v1/payout-batches/{batch.json()['id']}/confirm/", {}, format="json").status_code == 200

    def books():
        rows = {r["code"]: r for r in finance.get("/api/v1/ledger/trial-balance/").json()}
        return rows.get("1000", {}).get("credit") == "123.45" and rows

    rows = wait_until(books, timeout=60, message="the payment posted to the ledger")
    assert rows["2100"]["debit"] == rows["2100"]["credit"] == "123.45"
    assert sum(Decimal(r["debit"]) for r in rows.values()) == sum(Decimal(r["credit"]) for r in rows.values())

    reimbursements = employee.get("/api/v1/reimbursements/").json()["results"]
    assert [r["state"] for r in reimbursements] == ["paid"]
    wait_until(lambda: len(finance.get(f"/api/v1/audit/?object_type=expense&object_id={expense_id}"
                                       ).json()["results"]) == 2, timeout=30, message="audit entries")
    assert admin.get("/api/v1/audit/verify/").json()["ok"] is True
    kinds = {n["kind"] for n in employee.get("/api/v1/notifications/").json()["results"]}
    wait_until(lambda: "reimbursement_paid" in {n["kind"] for n in employee.get("/api/v1/notifications/").json()[
        "results"]}, timeout=30, message="the paid notification")
    assert "expense_approved" in kinds
