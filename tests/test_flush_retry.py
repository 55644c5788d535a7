"""The test suite's own safety net: Django's flush after a transactional test runs again when it
lost a lock race with a worker that outlives the test (see ``tests/support/fixtures.py``)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import OperationalError

from tests.support.fixtures import _lost_a_lock_race


def _flush_error(cause: Exception) -> CommandError:
    # what Django's flush command raises: its own message, the database error as the cause
    try:
        try:
            raise cause
        except Exception as error:
            raise CommandError("Database test_outlay couldn't be flushed. Possible reasons: ...") from error
    except CommandError as wrapped:
        return wrapped


def test_a_deadlock_behind_the_flush_command_error_is_seen():
    assert _lost_a_lock_race(_flush_error(OperationalError("deadlock detected\nDETAIL: Process 1 waits")))


def test_a_lock_timeout_behind_the_flush_command_error_is_seen():
    assert _lost_a_lock_race(_flush_error(OperationalError("canceling statement due to lock timeout")))


def test_any_other_flush_failure_is_not_retried():
    assert not _lost_a_lock_race(_flush_error(OperationalError('relation "expenses_expense" does not exist')))
    assert not _lost_a_lock_race(CommandError("Database test_outlay couldn't be flushed."))
