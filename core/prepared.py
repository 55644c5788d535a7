"""Outlay's fixed statements, parsed and planned by PostgreSQL once per connection.

The ORM sends every query with its values written into the SQL text (psycopg's client-side
binding, Django's default), so PostgreSQL parses and plans each one anew. For the statements
Outlay writes itself and runs on every request (``core.rows.JoinedRead``, the approve command's
reads and writes, the outbox's insert, the session's read) the text never changes: ``cursor()``
sends them with server-side binding and psycopg prepares each on its connection, once, so each
later run is a bind and an execute. The approval queue's statement went from 2.0 to 0.7 ms a
run, of which PostgreSQL's planning alone had been 1.0 ms (scratch script, in process).

``DATABASE_PREPARED_STATEMENTS=0`` turns it off (a pooler in transaction mode that cannot keep
prepared statements, PgBouncer before 1.21): the same statements then go as the ORM's do.

A statement sent here must give PostgreSQL its parameters' types where the context does not:
a value used in two places of different types is cast (``%(type)s::text``). The test suite runs
with prepared statements on, so a statement that PostgreSQL cannot type fails there.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import CursorDebugWrapper
from django.db.backends.utils import CursorWrapper
from django.utils.asyncio import async_unsafe


def column(model, name: str) -> str:
    """The quoted column of ``model``'s field ``name``, for a fixed statement's text."""
    return connection.ops.quote_name(model._meta.get_field(name).column)


def table(model) -> str:
    """``model``'s quoted table name, for a fixed statement's text."""
    return connection.ops.quote_name(model._meta.db_table)


@async_unsafe
def cursor():
    """``connection.cursor()`` (the same wrapper: query logging, error translation, thread
    checks) whose statements psycopg prepares on the connection (Django's ``OPTIONS``
    ``prepare_threshold``, settings.DATABASES) and then sends by name with their values."""
    if not settings.DATABASE_PREPARED_STATEMENTS or connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    return _Logged(raw, connection) if connection.queries_logged else connection.make_cursor(raw)


class _Logged(CursorDebugWrapper):
    """Django's query log (``connection.queries``, ``CaptureQueriesContext``) with the statement
    as it ran, its values written in: Django reads the SQL back from a client-side cursor only."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params) if params is not None else sql, params):
            return CursorWrapper.execute(self, sql, params)
