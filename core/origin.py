"""Websocket origin check: scheme, host and port, not the host alone.

Channels' ``AllowedHostsOriginValidator`` compares only the Origin's host name with
``ALLOWED_HOSTS``, so ``http://localhost:9999`` (any other program on the machine, another
port's page) was accepted for a socket served on port 8000. An origin is accepted here when it
is the socket's own origin (the scheme the request came in with, its Host header, host and port
compared) or one of ``CSRF_TRUSTED_ORIGINS``, as Django's CSRF check does for forms. Behind a
trusted proxy (``TRUSTED_PROXIES``) the scheme is the one its ``X-Forwarded-Proto`` names.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from .client_ip import client_ip

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_tuple(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


class _ScopeRequest:
    """Just enough of a request for ``client_ip``: the peer and the forwarded header."""

    def __init__(self, scope, headers: dict[bytes, bytes]) -> None:
        client = scope.get("client") or ("", 0)
        self.META = {"REMOTE_ADDR": client[0] or "",
                     "HTTP_X_FORWARDED_FOR": headers.get(b"x-forwarded-for", b"").decode("latin-1")}


def own_origin(scope, headers: dict[bytes, bytes]) -> str | None:
    """The origin the socket itself is served from, if its Host is one of ALLOWED_HOSTS."""
    host = headers.get(b"host", b"").decode("latin-1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    secure = scope.get("scheme") in ("wss", "https")
    request = _ScopeRequest(scope, headers)
    if settings.TRUSTED_PROXIES and client_ip(request) != request.META["REMOTE_ADDR"]:
        secure = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower() == "https"
    return f"{'https' if secure else 'http'}://{host}"


def origin_allowed(scope) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin")
    if not origin:
        return False
    wanted = _origin_tuple(origin.decode("latin-1"))
    if wanted is None:
        return False
    allowed = [own_origin(scope, headers), *settings.CSRF_TRUSTED_ORIGINS]
    return any(candidate and _origin_tuple(candidate) == wanted for candidate in allowed)


class SameOriginValidator:
    """ASGI middleware for websockets: refuses (403) a connection from any other origin."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
