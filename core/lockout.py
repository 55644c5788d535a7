"""One lock-out for every way in: the web log-in, the admin log-in and the API token endpoint.

django-axes does the counting. Its authentication backend (first in ``AUTHENTICATION_BACKENDS``)
refuses a locked-out account or address before any password is checked, and its handler counts
Django's ``user_login_failed`` signal, which ``django.contrib.auth.authenticate()`` sends for every
caller. A new way in that authenticates through ``authenticate(request, ...)`` is therefore covered
without code of its own, and all of them share the same counters (rows in the database, so every
web process sees them).

Two counters, one window (``LOGIN_FAILURE_WINDOW`` seconds): the account's failures, and the
client address's failures (``core.client_ip``: forwarded headers only from ``TRUSTED_PROXIES``),
which may reach ``ADDRESS_FACTOR`` times the account limit (an office behind one address mistypes
more than one person does). A lock-out lasts the window from the failure that reached the limit;
attempts during a lock-out are refused and not counted, so the end shown to the user holds.
"""

from __future__ import annotations

import datetime as dt

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from .errors import DomainError

ADDRESS_FACTOR = 4


def failure_limit(request=None, credentials=None) -> int:
    """Failures per account within the window before it is locked (``AXES_FAILURE_LIMIT``)."""
    return settings.LOGIN_MAX_FAILURES


def window(request=None) -> dt.timedelta:
    """How far back failures count, and how long a lock-out lasts (``AXES_COOLOFF_TIME``)."""
    return dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a wider limit for the address than for the account.

    ``AXES_LOCKOUT_PARAMETERS`` is ``["username", "ip_address"]``, so axes hands us the account's
    and the address's attempts in that order; the address's failures count ``1 / ADDRESS_FACTOR``.
    """

    def failures(self, request, credentials=None) -> tuple[int, int]:
        """(failures of the account, failures from the address) within the window."""
        by_account, by_address = (attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
                                  for attempts in self.get_user_attempts(request, credentials))
        return by_account, by_address

    def get_failures(self, request, credentials=None) -> int:
        by_account, by_address = self.failures(request, credentials)
        return max(by_account, by_address // ADDRESS_FACTOR)

    def reset_user_attempts(self, request, credentials=None) -> int:
        # A successful log-in clears its account's failures only: clearing the address's too would
        # let a guesser reset the per-address counter by logging in to an account of their own.
        attempts = self.filter_user_attempts(request, credentials)[0]
        count, _ = attempts.delete()
        return count

    def locked_until(self, request, credentials=None) -> dt.datetime | None:
        """When the lock-out of this account or address ends (None if neither is locked)."""
        ends = []
        limits = (failure_limit(), failure_limit() * ADDRESS_FACTOR)
        for attempts, limit in zip(self.get_user_attempts(request, credentials), limits, strict=True):
            total = 0
            # The lock holds until enough failures leave the window to bring the sum under the limit.
            for failures, attempt_time in attempts.order_by("-attempt_time").values_list(
                    "failures_since_start", "attempt_time"):
                total += failures
                if total >= limit:
                    ends.append(attempt_time + window())
                    break
        return max(ends) if ends else None


def lockout_handler() -> LockoutHandler:
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.get_implementation()


def lockout_message(until: dt.datetime | None) -> str:
    if until is None:
        return "Too many failed log-in attempts. Try again later."
    local = timezone.localtime(until)
    return (f"Too many failed log-in attempts. This account is locked until {local:%H:%M} "
            f"({local:%Z}, {local:%Y-%m-%d}); try again after that.")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What a locked-out attempt answers (``AXES_LOCKOUT_CALLABLE``): 429 with when the lock-out
    ends, in the API's error shape under /api/, as a page elsewhere (web and admin log-in)."""
    until = lockout_handler().locked_until(request, credentials)
    now = timezone.now()
    retry_after = max(1, int((until - now).total_seconds()) + 1) if until else int(window().total_seconds())
    message = lockout_message(until)
    if request.path.startswith("/api/"):
        error = DomainError(message, code="locked_out", http_status=429, details={
            "locked_until": until.isoformat() if until else None, "retry_after_seconds": retry_after})
        response = JsonResponse(error.as_dict(), status=error.http_status)
    else:
        username = get_client_username(request, credentials) or ""
        response = render(request, "registration/locked_out.html",
                          {"message": message, "locked_until": until, "username": username}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
