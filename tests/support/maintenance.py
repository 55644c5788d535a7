"""The explicit, narrow maintenance path for the append-only audit table (tests only here).

Uses DATABASE_ADMIN_URL (a superuser; `config.embedded` exports it for its own server). With
`session_replication_role = replica` no trigger fires, which only a superuser may set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dj_database_url
import psycopg
from django.db import connection


def admin_connection() -> psycopg.Connection:
    url = os.environ.get("DATABASE_ADMIN_URL")
    if url:
        params = dj_database_url.parse(url)
        params["NAME"] = connection.settings_dict["NAME"]  # the test database
    else:  # servers given by DATABASE_URL: the app's role must then be allowed to do this
        params = connection.settings_dict
    return psycopg.connect(host=params["HOST"], port=params["PORT"], user=params["USER"],
                           password=params.get("PASSWORD") or None, dbname=params["NAME"], autocommit=True)


@contextmanager
def audit_triggers_lifted() -> Iterator[psycopg.Connection]:
    """A superuser session under which the audit triggers do not fire: what an attacker (or an
    operator applying a retention policy) with superuser rights could do. Tests use it to show
    that tampering is caught by ``verify_audit`` when the database's own refusal is bypassed."""
    with admin_connection() as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


def clear_audit_trail() -> None:
    with admin_connection() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit_auditentry")
        conn.execute("DELETE FROM audit_auditchainhead")
