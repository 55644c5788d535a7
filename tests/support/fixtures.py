from __future__ import annotations

import time

import pytest
import redis as redis_lib
from django.conf import settings
from django.db import connection
from django.test import TransactionTestCase

from tests.support import processes
from tests.support.subscribers import EFFECTS_DDL


def _lost_a_lock_race(error: BaseException) -> bool:
    """Whether the flush failed on a deadlock or a lock timeout. Django's flush command raises a
    CommandError whose own text names neither: the database error is its cause, so the whole
    chain is read."""
    seen: BaseException | None = error
    while seen is not None:
        if any(text in str(seen) for text in ("deadlock detected", "lock timeout")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _flush_again_after_a_deadlock(teardown):
    """Django's flush after a transactional test TRUNCATEs every table at once; a worker that
    outlives the test (a module's stack, polling on beat's schedule) may hold a lock on a table the
    TRUNCATE wants while waiting for one it already took: PostgreSQL then cancels one of the two
    (deadlock detected), or it waits out its lock timeout. The flush then ends the other sessions
    on the test database (the workers replace a broken connection by themselves; what they were
    doing is emptied anyway) and runs again."""

    def flush(self):
        for attempt in range(4):
            try:
                return teardown(self)
            except Exception as error:
                if not _lost_a_lock_race(error) or attempt == 3:
                    raise
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                time.sleep(0.5)
        return None

    return flush


TransactionTestCase._fixture_teardown = _flush_again_after_a_deadlock(TransactionTestCase._fixture_teardown)


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
def fast_bus(settings):
    """The test process uses the same short leases and retries as the workers it starts."""
    for name, value in processes.FAST_BUS.items():
        setattr(settings, name, float(value))
    return settings


@pytest.fixture
def celery_processes(transactional_db, redis_client, fast_bus):
    """Start real workers/beats with ``worker()`` / ``beat()``; all stop after the test."""
    started: list[processes.CeleryProcess] = []

    class Launcher:
        def worker(self, **kwargs) -> processes.CeleryProcess:
            return processes.start_worker(track=started, **kwargs)

        def beat(self, **kwargs) -> processes.CeleryProcess:
            return processes.start_beat(track=started, **kwargs)

    yield Launcher()
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def private_broker(tmp_path, settings):
    """A Redis of this test's own, used as the broker by this process and the workers it starts,
    so the test may stop and restart it without disturbing the rest of the run."""
    from config.celery import app
    from config.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis", persist=False)
    server.start()
    previous = app.conf.broker_url

    def use(url: str) -> None:
        app.conf.broker_url = url
        app._pool = None  # the producer pool is built lazily from broker_url
        app.amqp._producer_pool = None

    use(server.url)
    settings.REDIS_URL = server.url
    settings.CELERY_BROKER_URL = server.url
    yield server
    server.stop()
    use(previous)


@pytest.fixture
def declared_event_types():
    """For a test that declares an event type at run time: every type it declared is forgotten
    afterwards, so no later test (or catalogue) sees it."""
    from events.types import event_types, forget_event_type

    before = set(event_types())
    yield
    for name in set(event_types()) - before:
        forget_event_type(name)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded receipts go to a per-test folder, never into var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2 is slow by design; tests create many users and do not test hashing strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def _django_db_helper(_django_db_helper, request):
    """After a transactional test, empty the append-only audit tables through the one narrow
    maintenance path (a superuser session with triggers off), so Django's flush can run.

    The app's own role cannot do this: the audit triggers refuse UPDATE, DELETE and TRUNCATE of a
    non-empty table (audit/migrations/0002_append_only.py)."""
    yield _django_db_helper
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or "live_server" in request.fixturenames or (
        marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
    if transactional:
        from tests.support.maintenance import clear_audit_trail

        if {"stack", "celery_processes"} & set(request.fixturenames):
            _audit_settled()  # a running worker may still append the test's last audit entries
        clear_audit_trail()


def _audit_settled(seconds: float = 15) -> None:
    """Until no audit delivery waits or runs (bounded): an entry the worker appends after the
    trail was cleared would make Django's flush refuse the whole teardown."""
    from events.models import Delivery, DeliveryStatus

    deadline = time.monotonic() + seconds
    waiting = Delivery.objects.filter(subscriber="audit.record",
                                      status__in=[DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT])
    while waiting.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def committed_scenarios(django_db_setup, django_db_blocker):
    """Two populated organisations (tests/api/scenario.py), committed once per module; each test
    runs in a transaction that is rolled back. Emptied (audit trail included) afterwards."""
    from django.core.management import call_command

    from tests.api.scenario import build
    from tests.support.maintenance import clear_audit_trail

    with django_db_blocker.unblock():
        built = build(), build()
    yield built
    with django_db_blocker.unblock():
        clear_audit_trail()
        call_command("flush", interactive=False, verbosity=0)
