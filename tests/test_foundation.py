"""Settings, production mode and health endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY = "k" * 20 + "-production-secret-for-tests-only-0123456789"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # A clean operator's environment: nothing the test run itself set (e.g. the browser tests'
    # DJANGO_ALLOW_ASYNC_UNSAFE, which --deploy rightly flags).
    drop = {"SECRET_KEY", "DEBUG", "OUTLAY_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = _manage("check", OUTLAY_ENV="production", ALLOWED_HOSTS="outlay.example.com")
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert lines == ["outlay: production mode needs SECRET_KEY set to a random value of 50+ characters"]


def test_production_mode_with_a_secret_key_passes_check_deploy_cleanly():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", OUTLAY_ENV="production",
                     SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="outlay.example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_development_defaults_are_not_production():
    from django.conf import settings

    assert not settings.PRODUCTION


def test_healthz_answers_without_touching_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_fails_without_worker_and_beat_heartbeats(client, redis_client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "fail"
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["worker"] == "down" and body["checks"]["beat"] == "down"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_readyz_is_ok_with_a_real_worker_and_beat(client, celery_processes):
    from tests.support.processes import wait_until

    celery_processes.worker()
    celery_processes.beat()
    response = wait_until(lambda: (r := client.get("/readyz")).status_code == 200 and r, timeout=20,
                          message="readyz to turn ok")
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "worker": "ok",
                                                          "beat": "ok"}}


def test_request_id_is_echoed_and_generated(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 36
