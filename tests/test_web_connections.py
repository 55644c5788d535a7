"""The web process (uvicorn, ASGI) borrows database connections from a pool (DATABASE_POOL)
instead of opening a PostgreSQL backend for every request."""

from __future__ import annotations

import httpx
import pytest
from django.db import connection

from tests.support.processes import WebProcess

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 30
# An unknown token is looked up in the database on every request (and answered 401): each request
# needs a connection, and nothing has to be set up.
UNKNOWN_TOKEN = {"Authorization": "Token not-a-token"}


def _sessions() -> int:
    """Sessions PostgreSQL has accepted into this database (a backend's count reaches the
    statistics at the latest when it exits)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _requests_through(web: WebProcess) -> int:
    with httpx.Client(base_url=web.url, timeout=10) as client:
        assert client.get("/api/v1/expenses/", headers=UNKNOWN_TOKEN).status_code == 401  # warm up
        before = _sessions()
        for _ in range(REQUESTS):
            assert client.get("/api/v1/expenses/", headers=UNKNOWN_TOKEN).status_code == 401
    web.stop()  # its backends exit, so their sessions are in the statistics
    return _sessions() - before


def test_the_web_process_serves_requests_from_pooled_connections():
    opened = _requests_through(WebProcess())
    assert opened <= 2, f"{opened} connections opened for {REQUESTS} requests"


def test_without_the_pool_every_request_opens_a_connection():
    # the check above can fail: this is what it would see without the pool
    opened = _requests_through(WebProcess(DATABASE_POOL="0"))
    assert opened >= REQUESTS
