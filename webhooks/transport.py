"""One HTTP POST to a receiver, with the safety rules of outbound webhooks.

* **SSRF.** The host is resolved here, every address it resolves to is checked (private,
  loopback, link-local, multicast, reserved and unspecified ranges are refused unless
  ``WEBHOOK_ALLOW_PRIVATE_NETWORKS``), and the socket connects to that checked address; the peer
  address of the connected socket is checked once more. A name that resolves to a public address
  when the endpoint is saved and to 127.0.0.1 when it is used (DNS rebinding) is refused at send
  time, before any packet goes to it.
* **No redirects** (a 3xx is just a failed try), **one deadline** for connect + response
  (``WEBHOOK_TIMEOUT_SECONDS``), **a size cap** on what is read (``WEBHOOK_MAX_RESPONSE_BYTES``);
  2 KB of the body are kept.

urllib3 (already the engine under ``requests``) does the HTTP and TLS; only its socket creation is
replaced. Connections are pooled per host in each worker process, so a busy endpoint reuses them;
a reused connection was checked when it was opened.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError


class AddressNotAllowed(Exception):
    """The receiver's address is private/loopback/link-local/multicast: nothing was sent."""


def address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def _check(address: str, host: str) -> None:
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS and not address_allowed(address):
        raise AddressNotAllowed(f"{host} resolves to {address}, which is not a public address")


def guarded_connection(host: str, port: int, timeout: float | None) -> socket.socket:
    """Resolve, check every address, connect to a checked one, check the connected peer."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        _check(sockaddr[0], host)  # any private answer refuses the whole name: no mixing games
    last_error: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(sockaddr)
            _check(sock.getpeername()[0], host)
            return sock
        except AddressNotAllowed:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error or OSError(f"no address for {host}")


class _GuardedMixin:
    def _new_conn(self) -> socket.socket:
        try:
            return guarded_connection(self._dns_host, self.port, self.timeout)
        except socket.gaierror as exc:
            raise NewConnectionError(self, f"cannot resolve {self.host}: {exc}") from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"connect to {self.host} timed out") from exc
        except AddressNotAllowed:
            raise
        except OSError as exc:
            raise NewConnectionError(self, f"cannot connect to {self.host}: {exc}") from exc


class GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    pass


@dataclass(frozen=True)
class Response:
    """What one try gave: a status (None when no response came), the kept body, the duration, an
    error text, Retry-After in seconds, and whether sending was refused before any request."""

    status: int | None
    body: str
    duration_ms: int
    error: str = ""
    retry_after: float | None = None
    blocked: bool = False


_pools: dict[tuple[str, str, int], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool(scheme: str, host: str, port: int) -> urllib3.HTTPConnectionPool:
    key = (scheme, host, port)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            if len(_pools) > 500:  # many endpoints in one process: start over rather than grow forever
                for old in _pools.values():
                    old.close()
                _pools.clear()
            if scheme == "https":
                pool = urllib3.HTTPSConnectionPool(host, port, maxsize=settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT,
                                                   block=False, retries=False, cert_reqs="CERT_REQUIRED")
                pool.ConnectionCls = GuardedHTTPSConnection
            else:
                pool = urllib3.HTTPConnectionPool(host, port, maxsize=settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT,
                                                  block=False, retries=False)
                pool.ConnectionCls = GuardedHTTPConnection
            _pools[key] = pool
        return pool


def url_refusal(url: str) -> str | None:
    """Why this URL cannot be an endpoint, or None. Names are checked again at every send."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "the URL needs an https:// scheme and a host"
    if parts.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        return "webhook URLs must use https"
    if parts.username or parts.password:
        return "the URL must not carry credentials"
    if port == 0:
        return "port 0 is not a port"
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None  # a name: resolved and checked when sending
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS and not address_allowed(parts.hostname):
        return f"{parts.hostname} is not a public address"
    return None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST ``body``; never raises for network trouble (it is the result), only for bugs."""
    started = time.monotonic()
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    refusal = url_refusal(url)
    if refusal:
        return Response(status=None, body="", duration_ms=0, error=f"not sent: {refusal}", blocked=True)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = _pool(parts.scheme, parts.hostname, port).urlopen(
            "POST", target, body=body, headers=headers, redirect=False, retries=False, preload_content=False,
            assert_same_host=False, timeout=urllib3.Timeout(connect=timeout, read=timeout))
    except AddressNotAllowed as exc:
        return Response(status=None, body="", duration_ms=took(), error=f"not sent: {exc}", blocked=True)
    except (ConnectTimeoutError, ReadTimeoutError, TimeoutError) as exc:
        return Response(status=None, body="", duration_ms=took(), error=f"timeout after {timeout:g} s: {exc}"[:500])
    except HTTPError as exc:
        return Response(status=None, body="", duration_ms=took(), error=f"{exc.__class__.__name__}: {exc}"[:500])
    try:
        kept = bytearray()
        complete = False
        while len(kept) < settings.WEBHOOK_MAX_RESPONSE_BYTES:
            if time.monotonic() - started > timeout:
                return Response(status=response.status, body="", duration_ms=took(),
                                error=f"timeout after {timeout:g} s reading the response")
            chunk = response.read(8192)
            if not chunk:
                complete = True
                break
            kept += chunk
        excerpt = bytes(kept[:settings.WEBHOOK_RESPONSE_KEEP_BYTES]).decode("utf-8", errors="replace")
        return Response(status=response.status, body=excerpt, duration_ms=took(),
                        retry_after=retry_after_seconds(response.headers.get("Retry-After")))
    except (ReadTimeoutError, TimeoutError) as exc:
        return Response(status=response.status, body="", duration_ms=took(), error=f"timeout reading: {exc}"[:500])
    except HTTPError as exc:
        return Response(status=response.status, body="", duration_ms=took(), error=f"{exc}"[:500])
    finally:
        if not complete:
            response.close()  # too big or broken: never put a half-read connection back
        response.release_conn()
