"""The pages' sessions: ``core.sessions`` (Django's database sessions, read with one plain
statement), whose read also brings the session's user, so a page reads both in one statement.

``SESSION_ENGINE = "organizations.sessions"``. A session key belongs to one user for its whole
life: Django's ``login`` cycles the key (or flushes the session for another user) and ``logout``
deletes the row. So once a key has been read in this process, the user it names is known
(``_user_of_key``), and the next read of that key joins the user's row to the session's, as
``get_user`` would read it (``organizations.authentication``: the user, their membership and
organisation, the pages' registered columns). The row is only handed to Django's ``get_user``
(``organizations.middleware``, for this request) if the session, once decoded, names that same
user; Django then checks the session's hash against it, as always. A key seen for the first
time costs the two statements it always did. The user is read in the same statement as the
session, so it is as fresh as a separate read a moment later would be: a deactivated user, a
changed password, a removed membership are seen on the very next request."""

from __future__ import annotations

import functools

from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from core import prepared
from core.memo import LeastRecentlyUsed
from core.sessions import SessionStore as CoreSessionStore

from .authentication import session_user_read

# session key -> the user id it names; 20,000 keys of 32 characters and an id are a few megabytes
_user_of_key = LeastRecentlyUsed(20_000)


class SessionStore(CoreSessionStore):
    # (user id, user) read with the session by the last load, for organizations.middleware
    session_user: tuple[str, object] | None = None

    def load(self):
        self.session_user = None
        key = self.session_key
        known = _user_of_key.get(key) if key else None
        if known is None:
            data = super().load()
        else:
            with prepared.cursor() as cursor:
                cursor.execute(_with_user_sql(self.model, session_user_read().sql()), [known, key, timezone.now()])
                row = cursor.fetchone()
            if row is None:  # unknown or expired: as Django's, a new key will be made on save
                self._session_key = None
                return {}
            data = self.decode(row[0])
            if str(data.get(SESSION_KEY)) == known:
                self.session_user = (known, session_user_read().from_row(row[1:]))
        if key and self._session_key and data.get(SESSION_KEY) is not None:
            _user_of_key.put(key, str(data[SESSION_KEY]))
        return data


@functools.cache
def _with_user_sql(model, user_sql: str) -> str:
    """The session's read (``core.sessions``'s) with the user's beside it (``user_sql``,
    ``get_user``'s statement as it is now, its one ``%s`` the user id; a column registered later
    is a new statement, so ``from_row`` always reads the columns it was built with)."""
    column = functools.partial(prepared.column, model)
    return (f"SELECT s.{column('session_data')}, u.* FROM {prepared.table(model)} s"
            f" LEFT JOIN LATERAL ({user_sql}) u ON TRUE"
            f" WHERE s.{column('session_key')} = %s AND s.{column('expire_date')} > %s")
