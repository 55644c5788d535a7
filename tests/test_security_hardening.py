"""Issue 17, sessions and files: drafts stay private, an upload's bytes are part of its
Idempotency-Key fingerprint, receipt files do not outlive their references, the browsable API
and debug mode stay out of production, and web refusals answer their real status."""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from events.models import Delivery
from expenses.models import Expense
from expenses.receipts import orphaned_receipt_files, receipt_storage
from expenses.tests.factories import PNG, make_team, receipt_file
from tests.support.processes import ROOT


def api(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(member.user)
    return client


# --- Drafts: only their employee and the organisation's admins --------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("role", "sees"), [("employee", True), ("admin", True), ("manager", False),
                                            ("finance", False)])
def test_a_draft_is_seen_only_by_its_employee_and_admins(role, sees):
    team = make_team()
    draft = team.expense()
    client = api(getattr(team, role))

    detail = client.get(f"/api/v1/expenses/{draft.pk}/")
    listed = [e["id"] for e in client.get("/api/v1/expenses/?state=draft").json()["results"]]
    browser = Client()
    browser.force_login(getattr(team, role).user)
    receipt = browser.get(reverse("expense-receipt", kwargs={"expense_id": draft.pk}))
    page = browser.get(reverse("expense-detail", kwargs={"expense_id": draft.pk}))

    assert detail.status_code == (200 if sees else 404)
    assert (str(draft.pk) in listed) is sees
    assert receipt.status_code == (200 if sees else 404)
    assert page.status_code == (200 if sees else 404)


@pytest.mark.django_db
def test_once_submitted_the_manager_and_finance_see_it():
    team = make_team()
    submitted = team.expense(submit=True)
    for member in (team.manager, team.finance):
        assert api(member).get(f"/api/v1/expenses/{submitted.pk}/").status_code == 200


# --- Idempotency-Key: the file's bytes are part of the request ---------------------------------

@pytest.mark.django_db
def test_the_same_key_with_another_file_of_the_same_name_is_refused_not_replayed():
    team = make_team()
    draft = team.expense(receipt=False)
    client = api(team.employee)
    url = f"/api/v1/expenses/{draft.pk}/receipt/"
    first = client.post(url, {"receipt": receipt_file("r.png", PNG + b"first")}, format="multipart",
                        HTTP_IDEMPOTENCY_KEY="upload-1")
    sha_after_first = Expense.objects.get(pk=draft.pk).receipt_sha256

    again = client.post(url, {"receipt": receipt_file("r.png", PNG + b"first")}, format="multipart",
                        HTTP_IDEMPOTENCY_KEY="upload-1")
    other = client.post(url, {"receipt": receipt_file("r.png", PNG + b"other")}, format="multipart",
                        HTTP_IDEMPOTENCY_KEY="upload-1")

    assert first.status_code == 200 and again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert Expense.objects.get(pk=draft.pk).receipt_sha256 == sha_after_first


# --- Receipt files: removed after commit when nothing references them ---------------------------

@pytest.mark.django_db
def test_a_replaced_receipt_file_is_removed_after_commit(django_capture_on_commit_callbacks):
    team = make_team()
    draft = team.expense()
    _, storage = receipt_storage()
    old = Expense.objects.get(pk=draft.pk).receipt.name
    assert storage.exists(old)

    with django_capture_on_commit_callbacks(execute=True):
        response = api(team.employee).post(f"/api/v1/expenses/{draft.pk}/receipt/",
                                           {"receipt": receipt_file()}, format="multipart")

    new = Expense.objects.get(pk=draft.pk).receipt.name
    assert response.status_code == 200 and new != old
    assert storage.exists(new) and not storage.exists(old)


@pytest.mark.django_db
def test_the_orphan_command_removes_unreferenced_old_files_only(settings):
    team = make_team()
    kept = Expense.objects.get(pk=team.expense().pk).receipt.name
    _, storage = receipt_storage()
    orphan = storage.save(f"receipts/{team.org.pk}/orphan.png", io.BytesIO(PNG))
    old = dt.datetime.now().timestamp() - 7200
    os.utime(storage.path(orphan), (old, old))
    os.utime(storage.path(kept), (old, old))
    young = storage.save(f"receipts/{team.org.pk}/young.png", io.BytesIO(PNG))

    assert orphaned_receipt_files(older_than=dt.timedelta(hours=1)) == [orphan]
    out = io.StringIO()
    call_command("remove_orphaned_receipts", stdout=out)

    assert not storage.exists(orphan) and storage.exists(kept) and storage.exists(young)
    assert "1 orphaned receipt file(s) removed" in out.getvalue()


# --- The audit list's filters are declared: validated, and in the OpenAPI schema ---------------

@pytest.mark.django_db
def test_the_audit_filters_are_in_the_schema():
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    names = {p["name"] for p in schema["paths"]["/api/v1/audit/"]["get"]["parameters"]}
    assert {"action", "object_type", "object_id", "actor", "cursor"} <= names


# --- Web approve/reject: a refusal answers its status, with the fragment htmx swaps ------------

@pytest.mark.django_db
def test_a_refused_htmx_approval_answers_409_with_the_decision_fragment(client):
    team = make_team(budget="10.00")
    expense = team.expense(amount="20.00", submit=True)
    client.force_login(team.manager.user)

    response = client.post(reverse("expense-approve", kwargs={"expense_id": expense.pk}), HTTP_HX_REQUEST="true")

    assert response.status_code == 409 and response["X-Refusal"] == "insufficient_budget"
    assert 'id="expense-decision"' in response.content.decode()
    assert Expense.objects.get(pk=expense.pk).state == "submitted"


@pytest.mark.django_db
def test_approving_ones_own_expense_in_the_page_answers_403(client):
    team = make_team()
    expense = team.expense(employee=team.manager, submit=True)
    client.force_login(team.manager.user)
    response = client.post(reverse("expense-approve", kwargs={"expense_id": expense.pk}), HTTP_HX_REQUEST="true")
    assert response.status_code == 403 and response["X-Refusal"]


def test_the_page_script_swaps_refusals():
    script = (ROOT / "static" / "js" / "live.js").read_text()
    assert "htmx:beforeSwap" in script and 'getResponseHeader("X-Refusal")' in script


# --- The operations page parses delivery ids with a form ---------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("value", ["\u00b2", "abc", "1.5", "-3", "9" * 30])
def test_replay_with_a_delivery_id_that_is_no_id_is_a_400_and_replays_nothing(client, value):
    team = make_team()
    client.force_login(team.admin.user)
    before = list(Delivery.objects.values_list("pk", "status"))
    response = client.post(reverse("ops-replay"), {"delivery": [value]})
    assert response.status_code == 400
    assert list(Delivery.objects.values_list("pk", "status")) == before


# --- Production mode: check --deploy clean; DEBUG and the default secret refused; no browsable API

def _production(*args: str, **env: str) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests' conftest, and --deploy rightly flags it.
    dropped = ("DEBUG", "SECRET_KEY", "OUTLAY_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE")
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment.update({"OUTLAY_ENV": "production", "ALLOWED_HOSTS": "outlay.example.com",
                        "SECRET_KEY": secrets.token_urlsafe(64), "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120, check=False)


def test_production_mode_passes_check_deploy():
    result = _production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("env", "reason"), [({"DEBUG": "1"}, "refuses DEBUG"),
                                             ({"SECRET_KEY": "dev-only-insecure-key-never-use-in-production"},
                                              "SECRET_KEY"),
                                             ({"SECRET_KEY": ""}, "SECRET_KEY")])
def test_production_mode_refuses_to_start_with_debug_or_a_default_secret(env, reason):
    result = _production("manage.py", "check", **env)
    assert result.returncode != 0 and reason in result.stderr


def test_production_mode_serves_no_browsable_api():
    # Content negotiation runs before authentication: no database is needed to see the refusal.
    code = ("import django; django.setup(); from django.test import Client; "
            "r = Client().get('/api/v1/expenses/?format=api', secure=True, HTTP_HOST='outlay.example.com'); "
            "print(r.status_code, r.json()['code'])")
    result = _production("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "404 not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["\u0661\u0662", "\uff11\uff12", "1_000", "\u00b2"])
def test_the_web_form_refuses_amounts_in_other_digits(client, typed):
    team = make_team()
    client.force_login(team.employee.user)
    before = Expense.objects.count()
    response = client.post(reverse("expense-create"), {
        "merchant": "Kiosk", "amount": typed, "incurred_on": team.expense(receipt=False).incurred_on.isoformat(),
        "cost_center_id": team.cost_center.pk, "category_id": team.category.pk})
    assert response.status_code == 200 and "is not an amount" in response.content.decode()
    assert Expense.objects.count() == before + 1  # only the draft the test made for its date
