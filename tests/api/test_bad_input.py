"""Bad input is the client's error, never a 500: each case names the status and the stable code.

schemathesis fuzzes the same surface at random (test_schemathesis.py); these are the inputs a
careless or hostile client sends on purpose, checked exactly, and refused without a write."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from events.models import Event
from expenses.models import Expense
from expenses.tests.factories import make_team

JSON = "application/json"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
HUGE = "9" * 30


def new_expense(team, **changes) -> dict:
    return {"cost_center_id": team.cost_center.pk, "category_id": team.category.pk, "amount": "12.50",
            "merchant": "Kiosk", "incurred_on": "{yesterday}", **changes}


# (case, role, method, path, body: dict | str (raw) | callable(team) -> dict, content type, status, code)
CASES = [
    ("malformed JSON", "employee", "post", "/api/v1/expenses/", '{"amount": ', JSON, 400, "malformed_request"),
    ("not UTF-8", "employee", "post", "/api/v1/expenses/", b'{"merchant": "\xff\xfe"}', JSON, 400,
     "malformed_request"),
    ("a list, not an object", "employee", "post", "/api/v1/expenses/", "[1, 2]", JSON, 400, "invalid"),
    ("not JSON at all", "employee", "post", "/api/v1/expenses/", "amount=12", "text/plain", 415,
     "unsupported_media_type"),
    ("id of the wrong type", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, cost_center_id="abc"), JSON, 400, "invalid"),
    ("id beyond bigint", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, category_id=int(HUGE)), JSON, 400, "invalid"),
    ("amount not a number", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, amount="twelve"), JSON, 400, "invalid_amount"),
    ("amount NaN", "employee", "post", "/api/v1/expenses/", lambda t: new_expense(t, amount="NaN"), JSON, 400,
     "invalid_amount"),
    ("amount with a huge exponent", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, amount="1e999999999"), JSON, 400, "invalid_amount"),
    ("amount far above the maximum", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, amount="9" * 30), JSON, 400, "amount_too_large"),
    ("amount in Arabic-Indic digits", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, amount="\u0661\u0662"), JSON, 400, "invalid_amount"),
    ("amount in full-width digits", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, amount="\uff11\uff12"), JSON, 400, "invalid_amount"),
    ("amount with an underscore", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, amount="1_000"), JSON, 400, "invalid_amount"),
    ("amount as a JSON number", "employee", "post", "/api/v1/expenses/", lambda t: new_expense(t, amount=12),
     JSON, 400, "invalid"),
    ("amount as a JSON float", "employee", "post", "/api/v1/expenses/", lambda t: new_expense(t, amount=12.5),
     JSON, 400, "invalid"),
    ("policy amount in full-width digits", "admin", "patch", "/api/v1/policy/",
     {"auto_approve_under": "\uff15\uff10"}, JSON, 400, "invalid"),
    ("policy amount as a JSON number", "admin", "patch", "/api/v1/policy/", {"auto_approve_under": 50}, JSON, 400,
     "invalid"),
    ("bidi override in the merchant", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, merchant="Kiosk\u202egnp.exe"), JSON, 400, "invalid"),
    ("bidi isolate in the description", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, description="a\u2067b"), JSON, 400, "invalid"),
    ("control character in the merchant", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, merchant="Kiosk\x1b[31m"), JSON, 400, "invalid"),
    ("line break in the merchant", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, merchant="Kiosk\nTotal: 0.00"), JSON, 400, "invalid"),
    ("bidi override in a rejection reason", "manager", "post", "/api/v1/expenses/{submitted}/reject/",
     {"reason": "ok\u202e"}, JSON, 400, "invalid"),
    ("JSON nested 5000 deep", "employee", "post", "/api/v1/expenses/", "[" * 5000 + "]" * 5000, JSON, 400,
     "malformed_request"),
    ("JSON nested 40 deep in a field", "employee", "post", "/api/v1/expenses/",
     '{"merchant": ' + "[" * 40 + "]" * 40 + "}", JSON, 400, "malformed_request"),
    ("audit actor in superscript digits", "finance", "get", "/api/v1/audit/?actor=\u00b2", None, None, 400,
     "invalid"),
    ("audit actor not a number", "finance", "get", "/api/v1/audit/?actor=abc", None, None, 400, "invalid"),
    ("amount with too many decimals", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, amount="1.001"), JSON, 400, "invalid_amount"),
    ("amount negative", "employee", "post", "/api/v1/expenses/", lambda t: new_expense(t, amount="-5"), JSON, 400,
     "invalid_amount"),
    ("impossible date", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, incurred_on="2024-02-30"), JSON, 400, "invalid"),
    ("NUL byte in text", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, merchant="Kiosk\x00"), JSON, 400, "invalid"),
    ("text too long", "employee", "post", "/api/v1/expenses/",
     lambda t: new_expense(t, description="x" * 5001), JSON, 400, "invalid"),
    ("version of the wrong type", "employee", "patch", "/api/v1/expenses/{draft}/", {"version": "one"}, JSON, 400,
     "invalid"),
    ("reject without a reason", "manager", "post", "/api/v1/expenses/{submitted}/reject/", {}, JSON, 400,
     "invalid"),
    ("receipt that is no file", "employee", "post", "/api/v1/expenses/{draft}/receipt/", "receipt=abc",
     "application/x-www-form-urlencoded", 400, "invalid"),
    ("path id not a UUID", "employee", "get", "/api/v1/expenses/not-a-uuid/", None, None, 404, "not_found"),
    ("unknown UUID", "employee", "get", f"/api/v1/expenses/{UNKNOWN}/", None, None, 404, "not_found"),
    ("command on an unknown UUID", "manager", "post", f"/api/v1/expenses/{UNKNOWN}/approve/", {}, JSON, 404,
     "not_found"),
    ("account id beyond bigint", "finance", "get", f"/api/v1/ledger/accounts/{HUGE}/", None, None, 404,
     "not_found"),
    ("delivery id beyond bigint", "admin", "post", f"/api/v1/deliveries/{HUGE}/replay/", None, None, 404,
     "not_found"),
    ("month out of range", "manager", "get", "/api/v1/summary/?month=2026-13", None, None, 400, "invalid"),
    ("month in another format", "manager", "get", "/api/v1/summary/?month=11/2026", None, None, 400, "invalid"),
    ("month missing", "manager", "get", "/api/v1/summary/", None, None, 400, "invalid"),
    ("filter of the wrong type", "finance", "get", "/api/v1/expenses/?amount_min=lots", None, None, 400, "invalid"),
    ("filter beyond bigint", "finance", "get", f"/api/v1/expenses/?employee={HUGE}", None, None, 200, None),
    ("filter with a huge exponent", "finance", "get", "/api/v1/expenses/?amount_max=1e999999", None, None, 400,
     "invalid"),
    ("unknown state", "finance", "get", "/api/v1/expenses/?state=paid-twice", None, None, 400, "invalid"),
    ("batch filter written a locale's way", "finance", "get", "/api/v1/payout-batches/?amount_min=1,50", None, None,
     400, "invalid"),
    ("journal filter with an exponent", "finance", "get", "/api/v1/ledger/entries/?amount_max=1e3", None, None, 400,
     "invalid"),
    ("impossible date filter", "finance", "get", "/api/v1/expenses/?incurred_from=2026-99-99", None, None, 400,
     "invalid"),
    ("cursor with broken base64", "finance", "get", "/api/v1/expenses/?cursor=YQ", None, None, 400,
     "invalid_cursor"),
    ("forged cursor offset", "finance", "get", "/api/v1/expenses/?cursor=bz1hYmM%3D", None, None, 400,
     "invalid_cursor"),
    ("forged audit cursor", "finance", "get", "/api/v1/audit/?cursor=B", None, None, 400, "invalid_cursor"),
    ("forged delivery cursor", "admin", "get", "/api/v1/deliveries/?cursor=Y", None, None, 400, "invalid_cursor"),
    ("huge page size", "finance", "get", f"/api/v1/expenses/?page_size={HUGE}", None, None, 200, None),
    ("unknown delivery status", "admin", "get", "/api/v1/deliveries/?status=lost", None, None, 400, "invalid"),
    ("unsupported method", "employee", "put", "/api/v1/expenses/{draft}/", {}, JSON, 405, "method_not_allowed"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "role", "method", "path", "body", "content_type", "status", "code"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_4xx_and_writes_nothing(case, role, method, path, body, content_type, status, code):
    team = make_team()
    draft, submitted = team.expense(), team.expense(submit=True)
    expenses, events = Expense.objects.count(), Event.objects.count()
    client = APIClient()
    client.force_authenticate(getattr(team, role).user)
    path = path.format(draft=draft.pk, submitted=submitted.pk)
    if callable(body):
        body = {k: (v.format(yesterday=draft.incurred_on.isoformat()) if isinstance(v, str) else v)
                for k, v in body(team).items()}

    if body is None:
        response = getattr(client, method)(path)
    elif isinstance(body, dict):
        response = getattr(client, method)(path, body, format="json")
    else:
        response = getattr(client, method)(path, body, content_type=content_type)

    assert response.status_code == status, (case, response.content[:300])
    if code is not None:
        assert response.json()["code"] == code and set(response.json()) == {"code", "message", "details"}
    assert (Expense.objects.count(), Event.objects.count()) == (expenses, events)
