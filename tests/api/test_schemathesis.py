"""schemathesis against the running app's OpenAPI schema: no 5xx, responses match the schema.

The run gets a config file with the scenario's real ids (a path parameter, or an id a new expense
names, is one of them half the time and a generated value otherwise), so commands get past the 404
and fuzzed bodies reach the services. Two operations are left out, each tested elsewhere:

* ``DELETE /api/v1/auth/token/`` revokes the very token the run uses: every operation tested after
  it would only ever see 401 (tests/api/test_tokens.py covers it);
* ``GET /api/v1/health/`` answers 503 by design while no worker or beat heartbeat exists, and this
  run starts none (test_authorization_matrix.py and tests/test_foundation.py cover it).
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from rest_framework.authtoken.models import Token

from tests.api.scenario import Scenario, build
from tests.support.processes import ROOT, WebProcess

pytestmark = pytest.mark.django_db

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
SEED = "20261128"
MAX_EXAMPLES = "10"
# One at a time: with several worker threads, hypothesis parses lambda sources concurrently and
# CPython 3.11.7's ast module then fails at random ("AST constructor recursion depth mismatch",
# CPython gh-106905), which schemathesis reports as an error of whichever operation it was on.
WORKERS = "1"
EXCLUDED = ("DELETE /api/v1/auth/token/", "GET /api/v1/health/")
# The coverage phase (boundary and negative values of every field: ~3,500 of the admin run's 4,200
# cases) runs as the admin, who reaches every operation's body. As an employee most operations
# answer 403 before reading one, so there it would only repeat the authorization matrix
# (test_authorization_matrix.py): the employee run is examples and fuzzing.
PHASES = {"admin": "examples,coverage,fuzzing", "employee": "examples,fuzzing"}


@pytest.fixture(scope="module")
def live_api(django_db_setup, django_db_blocker):
    from django.core.management import call_command

    from tests.support.maintenance import clear_audit_trail

    with django_db_blocker.unblock():
        scenario = build()
        tokens = {role: Token.objects.create(user=scenario.member(role).user).key for role in ("admin", "employee")}
    web = WebProcess()
    yield web, tokens, scenario
    web.stop()
    with django_db_blocker.unblock():
        clear_audit_trail()
        call_command("flush", interactive=False, verbosity=0)


def run_config(scenario: Scenario) -> str:
    """schemathesis.toml: no cache under the repository, and the scenario's ids as dictionaries
    for path parameters and for the ids a new expense names."""
    ids = {
        "path.expense_id": [str(scenario.draft.pk), str(scenario.submitted.pk)],
        "path.batch_id": [str(scenario.batch.pk)],
        "path.reimbursement_id": [str(scenario.in_batch.pk), str(scenario.failed.pk)],
        "path.notification_id": [str(scenario.notification.pk)],
        "path.delivery_id": [scenario.dead_delivery.pk],
        "path.account_id": [scenario.account.pk],
        "path.category_id": [scenario.team.category.pk],
        "path.delegation_id": [scenario.delegation.pk],
        "path.endpoint_id": [str(scenario.webhook_endpoint.pk)],
        "path.webhook_delivery_id": [scenario.webhook_delivery.pk],
        "path.kind": ["expense_submitted", "expense_approved"],
        "path.membership_id": [scenario.team.employee.pk, scenario.team.colleague.pk],
        "body.delegate_id": [scenario.team.colleague.pk],
        "body.cost_center_id": [scenario.team.cost_center.pk],
        "body.category_id": [scenario.team.category.pk],
        # Hostile inputs of issue 17, mixed into the generated ones: forged cursors (a bare year, a
        # word, a reversed word), amounts in other scripts' digits, with an underscore or exponent.
        "query.cursor": ["cD0yMDI2", "cD1hYmM=", "cj0xJnA9enp6", "bz05OTk5OTk5OTk5OTk5OTk5OTk5OTk="],
        "query.actor": ["\u00b2", "\u0661\u0662", "1_0"],
        "body.amount": ["\u0661\u0662", "\uff11\uff12", "1_000", "1e3", "12.50"],
        "body.merchant": ["Kiosk\u202egnp.exe", "Kiosk\x1b[0m", "Caf\u00e9"],
    }
    lines = ["[cache]", "enabled = false", ""]
    for key, values in ids.items():
        lines += [f"[dictionaries.{_name(key)}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"{key}" = {{ dictionary = "{_name(key)}", probability = 0.5 }}' for key in ids]
    return "\n".join(lines) + "\n"


def _name(key: str) -> str:
    return key.replace(".", "_")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("role", ["admin", "employee"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_api, role, tmp_path):
    web, tokens, scenario = live_api
    config = tmp_path / "schemathesis.toml"
    config.write_text(run_config(scenario))
    excluded = [arg for name in EXCLUDED for arg in ("--exclude-name", name)]
    # The schema is fetched here, with time to spare on a busy machine (schemathesis gives its own
    # fetch a fixed 10 s), and handed over as a file with the server's address.
    schema = tmp_path / "schema.json"
    schema.write_bytes(httpx.get(f"{web.url}/api/v1/schema/?format=json", timeout=120,
                                 headers={"Authorization": f"Token {tokens[role]}"}).raise_for_status().content)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run",
         str(schema), "--url", web.url, "--checks", CHECKS, "--max-examples", MAX_EXAMPLES, "--seed", SEED,
         "--phases", PHASES[role], "--header", f"Authorization: Token {tokens[role]}",
         "--request-timeout", "20", "--workers", WORKERS, *excluded, "--report-dir", str(tmp_path), "--no-color"],
        cwd=ROOT, capture_output=True, text=True, timeout=540, check=False)
    (tmp_path / "out.txt").write_text(result.stdout)
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary + "\n--- server log ---\n" + web.output()[-4000:]
    # The run really tested as ``role``: only the token endpoint (fuzzed credentials) saw only 401s.
    assert unauthorized_only(result.stdout) <= {"POST /api/v1/auth/token/"}, summary


def unauthorized_only(output: str) -> set[str]:
    """The operations schemathesis's warning lists as having answered nothing but 401."""
    block = re.search(r"^401 Unauthorized \(\d+ operations?\):\n((?:  - .+\n)+)", output, re.MULTILINE)
    return {line.removeprefix("  - ") for line in block.group(1).splitlines()} if block else set()


HOSTILE = [  # (case, method, path, content type, body, declared length if not the body's, status)
    ("deep JSON", "POST", "/api/v1/expenses/", "application/json", b"[" * 5000 + b"]" * 5000, None, 400),
    ("deep JSON in a field", "PATCH", "/api/v1/policy/", "application/json",
     b'{"auto_approve_under": ' + b"[" * 100 + b"]" * 100 + b"}", None, 400),
    ("13 MB JSON body", "POST", "/api/v1/expenses/", "application/json", b'{"merchant": "xxxx', 13 * 1024 * 1024, 413),
    ("30 MB upload", "POST", "/api/v1/expenses/{draft}/receipt/", "multipart/form-data; boundary=b",
     b"--b\r\nContent-Disposition: form-data; name=receipt; filename=r.png\r\n\r\n", 30 * 1024 * 1024, 413),
    ("forged cursor", "GET", "/api/v1/expenses/?cursor=cD0yMDI2", None, b"", None, 400),
    ("superscript actor", "GET", "/api/v1/audit/?actor=%C2%B2", None, b"", None, 400),
]


@pytest.mark.timeout(120)
def test_the_live_server_answers_hostile_inputs_in_the_error_shape(live_api):
    """Through the real server (uvicorn, the ASGI stack): each a 4xx in the error shape. The
    oversized bodies send only their first bytes: the answer must come before the rest."""
    web, tokens, scenario = live_api
    address = urlsplit(web.url)
    for name, method, path, content_type, body, declared, status in HOSTILE:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        connection.putrequest(method, path.format(draft=scenario.draft.pk))
        connection.putheader("Authorization", f"Token {tokens['admin']}")
        if content_type:
            connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(declared or len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        answer = response.read()
        connection.close()
        assert response.status == status, (name, response.status, answer[:300])
        assert set(json.loads(answer)) == {"code", "message", "details"}, name
