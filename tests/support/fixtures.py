from __future__ import annotations

import pytest
import redis as redis_lib
from django.conf import settings
from django.db import connection

from tests.support import processes
from tests.support.subscribers import EFFECTS_DDL


@pytest.fixture
def redis_client():
    """The test run's real Redis, emptied before the test (broker queues included)."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def effects(transactional_db):
    """The ``test_effects`` table that test subscribers write to; returns a counter function."""
    with connection.cursor() as cursor:
        cursor.execute(EFFECTS_DDL)
        cursor.execute("TRUNCATE test_effects")

    def count(subscriber: str | None = None, event_id=None) -> int:
        sql, params = "SELECT count(*) FROM test_effects WHERE TRUE", []
        if subscriber:
            sql, params = sql + " AND subscriber = %s", [*params, subscriber]
        if event_id:
            sql, params = sql + " AND event_id = %s", [*params, event_id]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    return count


@pytest.fixture
def celery_processes(transactional_db, redis_client):
    """Start real workers/beats with ``start_worker()`` / ``start_beat()``; all stop after the test."""
    started: list[processes.CeleryProcess] = []

    class Launcher:
        def worker(self, **kwargs) -> processes.CeleryProcess:
            started.append(processes.start_worker(**kwargs))
            return started[-1]

        def beat(self, **kwargs) -> processes.CeleryProcess:
            started.append(processes.start_beat(**kwargs))
            return started[-1]

    yield Launcher()
    for proc in reversed(started):
        proc.stop()
