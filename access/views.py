"""Log-out that also closes the session's live websockets."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from .sockets import end_session_sockets


class LogoutView(auth_views.LogoutView):
    """Django's log-out; the sockets this session opened are closed too (an open socket kept
    subscribing and hearing hints after the log-out)."""

    def post(self, request, *args, **kwargs):
        session_key = request.session.session_key
        response = super().post(request, *args, **kwargs)
        end_session_sockets(session_key)
        return response
