"""Login with throttled failures, per account and per client IP.

After ``LOGIN_MAX_FAILURES`` failed attempts within ``LOGIN_FAILURE_WINDOW`` seconds, further
attempts for that username (or from that IP) are refused without checking the password until
the window passes. Counters live in the shared cache (Redis), so every web process sees them.
"""

from __future__ import annotations

import contextlib
import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache


def _keys(request, username: str) -> list[str]:
    ip = request.META.get("REMOTE_ADDR", "")
    user_hash = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{user_hash}", f"login-fail:ip:{ip}"]


def _limits() -> tuple[int, int]:
    return getattr(settings, "LOGIN_MAX_FAILURES", 5), getattr(settings, "LOGIN_FAILURE_WINDOW", 900)


def is_locked_out(request, username: str) -> bool:
    limit, _ = _limits()
    try:
        counts = cache.get_many(_keys(request, username))
    except Exception:  # noqa: BLE001 - cache down: do not lock everyone out
        return False
    user_key, ip_key = _keys(request, username)
    return counts.get(user_key, 0) >= limit or counts.get(ip_key, 0) >= limit * 4


def record_failure(request, username: str) -> None:
    _, window = _limits()
    for key in _keys(request, username):
        with contextlib.suppress(Exception):  # counting is best effort
            cache.add(key, 0, window)
            cache.incr(key)


def clear_failures(request, username: str) -> None:
    with contextlib.suppress(Exception):
        cache.delete(_keys(request, username)[0])


class ThrottledLoginView(auth_views.LoginView):
    """Django's login view, refusing attempts for a locked-out account or IP with a clear message."""

    LOCKED_MESSAGE = "Too many failed log-in attempts. Wait 15 minutes and try again."

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if is_locked_out(request, username):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, self.LOCKED_MESSAGE)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        record_failure(self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)

    def form_valid(self, form):
        clear_failures(self.request, form.get_user().get_username())
        return super().form_valid(form)
