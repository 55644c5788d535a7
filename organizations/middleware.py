"""Django's ``AuthenticationMiddleware``, whose ``request.user`` takes the user the request's
session was read with (``organizations.sessions``) instead of reading it again: one statement a
page. Everything else is Django's own ``get_user``: the session's user id and backend, the
user's ``is_active``, the session's hash against the user's password."""

from __future__ import annotations

from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.utils.functional import SimpleLazyObject

from .authentication import holding


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _get_user(request))


def _get_user(request):
    """``django.contrib.auth.middleware.get_user``, with the session's user held while it runs."""
    if not hasattr(request, "_cached_user"):
        session = request.session
        session.get(SESSION_KEY)  # loads the session (with its user, where the key is known)
        with holding(getattr(session, "session_user", None)):
            request._cached_user = auth.get_user(request)
    return request._cached_user
