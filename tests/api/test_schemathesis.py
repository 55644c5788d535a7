"""schemathesis against the running app's OpenAPI schema: no 5xx, responses match the schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.api.scenario import build
from tests.support.processes import ROOT, WebProcess

pytestmark = pytest.mark.django_db

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


@pytest.fixture(scope="module")
def live_api(django_db_setup, django_db_blocker):
    from django.core.management import call_command

    from tests.support.maintenance import clear_audit_trail

    with django_db_blocker.unblock():
        scenario = build()
        tokens = {role: Token.objects.create(user=scenario.member(role).user).key for role in ("admin", "employee")}
    web = WebProcess()
    yield web, tokens
    web.stop()
    with django_db_blocker.unblock():
        clear_audit_trail()
        call_command("flush", interactive=False, verbosity=0)


@pytest.mark.parametrize("role", ["admin", "employee"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_api, role, tmp_path):
    web, tokens = live_api
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{web.url}/api/v1/schema/",
         "--checks", CHECKS, "--max-examples", "12", "--seed", "20261128", "--phases", "examples,coverage,fuzzing",
         "--header", f"Authorization: Token {tokens[role]}", "--request-timeout", "20",
         "--exclude-path", "/api/v1/docs/", "--report-dir", str(tmp_path), "--no-color"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    (tmp_path / "out.txt").write_text(result.stdout)
    Path("/tmp/st-" + role + ".txt").write_text(result.stdout)
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary + "\n--- server log ---\n" + web.output()[-4000:]
