"""Django's database sessions, whose read on every page is one plain statement.

The base of the pages' ``SESSION_ENGINE`` (``organizations.sessions``, which also reads the
session's user in the same statement once it knows whose key it is). The same table, rows,
expiry and encoding as ``django.contrib.sessions.backends.db`` (writes, key cycling and
clearing are Django's own); only ``load``, run once on every page, skips the ORM: building the
query cost more than running it (``bench/profile_reads.py``). Sessions stay in PostgreSQL, so a
Redis outage logs nobody out and a logout is never undone by a cache that missed it."""

from __future__ import annotations

import functools

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone

from . import prepared


class SessionStore(DatabaseSessionStore):
    def load(self):
        model = self.model  # the default database's table (core.prepared's connection)
        with prepared.cursor() as cursor:
            cursor.execute(_read_sql(model), [self.session_key, timezone.now()])
            row = cursor.fetchone()
        if row is None:  # unknown or expired: as Django's, a new key will be made on save
            self._session_key = None
            return {}
        return self.decode(row[0])


@functools.cache
def _read_sql(model) -> str:
    meta = model._meta
    q = connections[router.db_for_read(model)].ops.quote_name
    column = {name: q(meta.get_field(name).column) for name in ("session_data", "session_key", "expire_date")}
    return (f"SELECT {column['session_data']} FROM {q(meta.db_table)} "
            f"WHERE {column['session_key']} = %s AND {column['expire_date']} > %s")
