"""Liveness (`/healthz`) and readiness (`/readyz`) endpoints."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import HEARTBEAT_KEY

HEARTBEAT_MAX_AGE = 30.0


@require_GET
@never_cache
def healthz(request):
    """The process is alive and serving requests; checks nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _heartbeat_age(client: redis.Redis, role: str) -> str:
    """``down`` when the process sent no heartbeat lately: it is not running, or it is being
    restarted (under `make run` the supervisor deletes the heartbeat the moment the process exits,
    see config/supervision.py; elsewhere it goes stale after HEARTBEAT_MAX_AGE)."""
    raw = client.get(HEARTBEAT_KEY.format(role=role))
    if raw is None:
        return "down"
    age = time.time() - float(raw)
    return "ok" if age <= HEARTBEAT_MAX_AGE else f"down: last heartbeat {age:.0f}s ago"


@require_GET
@never_cache
def readyz(request):
    """Ready when the database and Redis answer and the worker and beat sent a recent heartbeat."""
    checks: dict[str, str] = {}
    try:
        checks["database"] = _check_database()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"fail: {exc.__class__.__name__}"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        checks["redis"] = "ok"
        checks["worker"] = _heartbeat_age(client, "worker")
        checks["beat"] = _heartbeat_age(client, "beat")
    except redis.RedisError as exc:
        checks["redis"] = f"fail: {exc.__class__.__name__}"
        checks["worker"] = checks["beat"] = "fail: redis unreachable"
    ok = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)
