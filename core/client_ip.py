"""The client's address, trusting forwarded headers only from the proxies we run.

``X-Forwarded-For`` is written by whoever sends the request, so taken at face value it lets a
client pick a new address for every request (and a fresh per-address counter with it). It is
read only when the direct peer (``REMOTE_ADDR``) is one of ``TRUSTED_PROXIES`` (addresses or
networks, empty by default): then the right-most address that is not itself a trusted proxy is
the client. The web server does not rewrite the peer address itself (uvicorn runs with
``--no-proxy-headers``), so this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def parse_trusted_proxies(entries) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` as networks; raises ``ValueError`` for an entry that is not an address."""
    return _networks(tuple(entries))


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request) -> str:
    """The address per-IP counters and the audit trail key on (see the module docstring)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks = parse_trusted_proxies(getattr(settings, "TRUSTED_PROXIES", ()))
    if not networks or not _trusted(_address(remote), networks):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return remote  # a hop our proxy did not write: trust nothing beyond the proxy
        if not _trusted(address, networks):
            return str(address)
    return str(_address(hops[0])) if hops else remote
