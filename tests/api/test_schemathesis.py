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

import json
import re
import subprocess
import sys
from pathlib import Path

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
        "body.delegate_id": [scenario.team.colleague.pk],
        "body.cost_center_id": [scenario.team.cost_center.pk],
        "body.category_id": [scenario.team.category.pk],
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
         "--phases", "examples,coverage,fuzzing", "--header", f"Authorization: Token {tokens[role]}",
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
