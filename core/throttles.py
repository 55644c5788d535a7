"""The API's request throttles: counters per caller in Redis, open when Redis is down."""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from .client_ip import client_ip


class _FailOpen:
    """Throttle counters live in Redis; if Redis is down, serve the request rather than fail it
    (throttling protects capacity; refusing every request during an outage would be worse).

    The anonymous counter keys on ``core.client_ip``: DRF's own ``get_ident`` believes any
    ``X-Forwarded-For``, so a new header per request was a new counter per request."""

    def get_ident(self, request):
        return client_ip(request)

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache failure
            return True


class _Counted:
    """A counter per caller in Redis, in one round trip: the window starts at the caller's first
    request and holds ``num_requests``; the answer after that says when it ends.

    DRF's own throttle keeps every request's timestamp in the cache and reads, unpickles, extends,
    pickles and writes the whole list back on each request (two round trips and a list as long
    as the rate: 1,200 floats at 1,200/minute). This counts instead. A burst at the end of one
    window and the start of the next may reach twice the rate over a short span."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        with _redis(settings.REDIS_URL).pipeline() as pipe:  # MULTI/EXEC: one round trip
            pipe.set(f"outlay:{self.key}", 0, ex=self.duration, nx=True)
            pipe.incr(f"outlay:{self.key}")
            pipe.ttl(f"outlay:{self.key}")
            _, count, ttl = pipe.execute()
        self.left = max(1, ttl)
        return count <= self.num_requests

    def wait(self):
        return self.left


@functools.cache
def _redis(url: str) -> redis.Redis:
    """One connection pool per process and Redis."""
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


class AnonThrottle(_FailOpen, _Counted, AnonRateThrottle):
    pass


class UserThrottle(_FailOpen, _Counted, UserRateThrottle):
    pass
