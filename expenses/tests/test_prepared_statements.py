"""``core.prepared.cursor``: Outlay's fixed statements are prepared on the connection once and
run by name after that; the ORM's queries never are; with the setting off nothing is prepared;
Django's query log still shows each statement with its values."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from core import prepared
from expenses.models import ExpenseState
from expenses.queries import approval_queue
from expenses.tests.factories import ExpenseFactory, make_team

pytestmark = pytest.mark.django_db


def _prepared_statements() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:  # the ORM's own cursor: never prepared itself
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return cursor.fetchall()


def test_a_fixed_statement_is_prepared_once_and_then_run_by_name():
    team = make_team()
    ExpenseFactory(organization=team.org, employee=team.employee, cost_center=team.cost_center,
                   category=team.category, state=ExpenseState.SUBMITTED)
    before = {text for text, _ in _prepared_statements()}
    for _ in range(3):
        assert len(approval_queue(team.manager, delegators=[])) == 1
    queue = [(text, runs) for text, runs in _prepared_statements() if text not in before]
    assert len(queue) == 1, queue  # one statement, prepared once for the three runs
    text, runs = queue[0]
    assert "$1" in text and "ORDER BY" in text and runs == 3
    assert "'submitted'" not in text  # its values are bound, not written in


def test_the_orm_and_a_plain_cursor_prepare_nothing():
    team = make_team()
    before = _prepared_statements()
    for _ in range(3):
        list(team.org.cost_centers.filter(code="x"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int", [1])
    assert _prepared_statements() == before


@override_settings(DATABASE_PREPARED_STATEMENTS=False)
def test_with_the_setting_off_nothing_is_prepared():
    team = make_team()
    before = _prepared_statements()
    for _ in range(3):
        approval_queue(team.manager, delegators=[])
    assert _prepared_statements() == before


def test_the_query_log_shows_the_statement_with_its_values():
    with CaptureQueriesContext(connection) as log, prepared.cursor() as cursor:
        cursor.execute("SELECT %s::text, %s::int", ["approved", 7])
        assert cursor.fetchone() == ("approved", 7)
    assert log.captured_queries[-1]["sql"] == "SELECT 'approved'::text, 7::int"
