"""Authentication that reads the caller's membership and organisation with the user.

DRF's ``TokenAuthentication`` reads the token and its user; every API view then reads the
membership (``IsMember``) and most read its organisation: three statements before the view does
anything. This reads all four rows in one statement (``bench/profile_approve.py``: one statement
fewer on every API request). Refusals are DRF's own (401 with ``WWW-Authenticate: Token``).
"""

from __future__ import annotations

import contextlib
import functools
import threading

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core.rows import JoinedRead

_TOKEN_WITH_MEMBERSHIP = JoinedRead(Token, ("user__membership__organization",), where=("key",))


class MemberTokenAuthentication(TokenAuthentication):
    """The token, its user, their membership and organisation: one statement built once and
    prepared (``core.rows.JoinedRead``), as the session's ``get_user`` below; through the ORM,
    building the query cost more than running it (``bench/profile_approve.py``)."""

    def authenticate_credentials(self, key):
        token = _TOKEN_WITH_MEMBERSHIP.get(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token


# attribute -> SQL expression on the user (``t0``): what other apps read with the session's user
_session_user_columns: dict[str, str] = {}


def read_with_the_session_user(attribute: str, expression: str) -> None:
    """Have ``get_user``'s statement also read ``expression`` (SQL on the user, ``t0``, without
    parameters) and set it on the user as ``attribute``: a value every page shows, read without
    a statement of its own. For an app above this one (the pages register the unread
    notifications' count, ``web/apps.py``), from its ``AppConfig.ready``, before any request."""
    _session_user_columns[attribute] = expression
    _user_with_membership.cache_clear()


@functools.cache
def _user_with_membership() -> JoinedRead:
    return JoinedRead(get_user_model(), ("membership__organization",), where=("pk",),
                      extra=tuple(_session_user_columns.items()))


class MemberModelBackend(ModelBackend):
    """Django's ModelBackend, whose per-request ``get_user`` (every page: the session's user) also
    reads the membership and organisation every page then needs, and what other apps registered
    (``read_with_the_session_user``): one statement instead of three or more, built once
    (``core.rows.JoinedRead``; the ORM's building of this select_related read cost more than
    running it, ``bench/profile_reads.py``). A user without a membership (a superuser of the
    admin site) reads as ``select_related`` leaves them: ``user.membership`` raises."""

    def get_user(self, user_id):
        held = getattr(_session_user, "value", None)
        # the user read with the session a moment ago (organizations.sessions), or read now
        user = held[1] if held is not None and held[0] == str(user_id) else _user_with_membership().get(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def session_user_read() -> JoinedRead:
    """``get_user``'s statement, for the session's read to run inside its own."""
    return _user_with_membership()


@contextlib.contextmanager
def holding(session_user: tuple[str, object] | None):
    """While Django's ``get_user`` runs for a request (``organizations.middleware``), the user
    ``organizations.sessions`` read with that request's session, as (id, user): ``get_user``
    takes it instead of reading it again, for that id only, and only within this block (a
    session read anywhere else, a websocket's, is never handed on)."""
    _session_user.value = session_user
    try:
        yield
    finally:
        _session_user.value = None


# Per thread: Django's get_user runs on the request's thread, inside ``holding``.
_session_user = threading.local()
