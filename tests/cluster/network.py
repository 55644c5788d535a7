"""Hosts as Linux network namespaces joined by point-to-point veth links (iproute2, needs root).

Every client host (web, worker, beat) has a link of its own to each server host (PostgreSQL,
Redis), and the load balancer one to each web host, so that any pair can be cut apart without
touching the others. A server host's service address sits on its loopback and the clients route
to it over their link: every host reaches PostgreSQL at the same address, as in production.

A partition takes the server's end of a link down. The client's end stays up without a carrier:
its packets are dropped without an answer (both ends know each other's hardware address for
good, so not even neighbour discovery fails), connections hang, and only the application's own
timeouts end the wait. Healing brings the end up again; the routes come back with it.

The harness itself (load, checks) runs in the root namespace, linked to PostgreSQL, Redis and the
load balancer. Names carry the run's id; ``Network.close`` deletes every namespace (and so every
link), and ``sweep_leftovers`` removes those of a run that died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def available() -> str | None:
    """None if this machine lets us make namespaces; otherwise why not."""
    if os.geteuid() != 0:
        return "the cluster harness needs root (it makes network namespaces with `ip netns`)"
    try:
        probe = f"olprobe{os.getpid()}"
        made = ip("netns", "add", probe, check=False)
        if made.returncode != 0:
            return f"`ip netns add` failed: {made.stderr.strip()}"
        ip("netns", "del", probe, check=False)
    except FileNotFoundError:
        return "iproute2 (`ip`) is not installed"
    return None


def pids_in(netns: str) -> list[int]:
    result = ip("netns", "pids", netns, check=False)
    return [int(pid) for pid in result.stdout.split()]


def kill_all_in(netns: str) -> int:
    """SIGKILL every process in ``netns`` (a host that dies whole); how many there were."""
    pids = pids_in(netns)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def sweep_leftovers(prefix: str = "olc") -> None:
    """Delete the namespaces of earlier runs whose harness process is gone (a crash, SIGKILL)."""
    listing = ip("netns", "list", check=False).stdout.split("\n")
    for line in listing:
        name = line.split(" ")[0]
        if not name.startswith(prefix) or "-" not in name:
            continue
        with contextlib.suppress(ValueError):
            owner = int(name[len(prefix):].split("-")[0])
            if owner != os.getpid() and not os.path.exists(f"/proc/{owner}"):
                kill_all_in(name)
                ip("netns", "del", name, check=False)


@dataclass
class Link:
    client: str  # host names
    server: str
    client_dev: str
    server_dev: str
    client_ip: str
    server_ip: str


@dataclass
class Network:
    """The namespaces and links of one run; ``10.<net>.0.0/16`` is the run's private range."""

    run_id: int = field(default_factory=os.getpid)
    hosts: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    service: dict[str, str] = field(default_factory=dict)  # server host -> its service address

    def __post_init__(self) -> None:
        self.net = 200 + self.run_id % 50

    @property
    def cidr(self) -> str:
        return f"10.{self.net}.0.0/16"

    def ns(self, host: str) -> str:
        return "" if host == "root" else f"olc{self.run_id}-{host}"

    def _ip_in(self, host: str, *args: str) -> None:
        if host == "root":
            ip(*args)
        else:
            ip("-n", self.ns(host), *args)

    def add_host(self, host: str) -> None:
        ip("netns", "add", self.ns(host))
        self.hosts.append(host)
        self._ip_in(host, "link", "set", "lo", "up")

    def add_service_address(self, host: str) -> str:
        address = f"10.{self.net}.255.{len(self.service) + 1}"
        self._ip_in(host, "addr", "add", f"{address}/32", "dev", "lo")
        self.service[host] = address
        return address

    def link(self, client: str, server: str) -> Link:
        """A veth pair between two hosts, a /30 of its own, ARP off, and a route from the client
        to the server's service address over it."""
        k = len(self.links) + 1
        subnet = f"10.{self.net}.{k // 64}.{(k % 64) * 4}"
        base = subnet.rsplit(".", 1)
        server_ip, client_ip = f"{base[0]}.{int(base[1]) + 1}", f"{base[0]}.{int(base[1]) + 2}"
        # Device names are unique per namespace; the root namespace is shared by concurrent runs.
        server_dev = f"to-{client}"[:15] if server != "root" else f"c{self.run_id % 10**6}{client[:2]}"
        client_dev = f"to-{server}"[:15] if client != "root" else f"c{self.run_id % 10**6}{server[:2]}"
        ip("link", "add", f"tmp{self.run_id % 10**5}a", "type", "veth", "peer", "name", f"tmp{self.run_id % 10**5}b")
        for tmp, host, dev, address in ((f"tmp{self.run_id % 10**5}a", client, client_dev, client_ip),
                                        (f"tmp{self.run_id % 10**5}b", server, server_dev, server_ip)):
            if host != "root":
                ip("link", "set", tmp, "netns", self.ns(host))
            self._ip_in(host, "link", "set", tmp, "name", dev)
            self._ip_in(host, "addr", "add", f"{address}/30", "dev", dev)
            self._ip_in(host, "link", "set", dev, "up")
        # Each end knows the other's hardware address for good: a cut link drops packets instead
        # of failing neighbour discovery (which answers "no route to host" within seconds).
        for host, dev, peer_host, peer_dev, peer_ip in ((client, client_dev, server, server_dev, server_ip),
                                                        (server, server_dev, client, client_dev, client_ip)):
            self._ip_in(host, "neigh", "replace", peer_ip, "lladdr", self._mac(peer_host, peer_dev), "dev", dev,
                        "nud", "permanent")
        link = Link(client, server, client_dev, server_dev, client_ip, server_ip)
        self.links.append(link)
        if server in self.service:
            self._ip_in(client, "route", "add", f"{self.service[server]}/32", "via", server_ip, "dev", client_dev)
        return link

    def _mac(self, host: str, dev: str) -> str:
        args = ["link", "show", dev] if host == "root" else ["-n", self.ns(host), "link", "show", dev]
        return ip(*args).stdout.split("link/ether ")[1].split()[0]

    def find(self, client: str, server: str) -> Link:
        return next(link for link in self.links if link.client == client and link.server == server)

    def cut(self, client: str, server: str) -> None:
        """Partition: the server's end of the link goes down, the client's keeps waiting."""
        link = self.find(client, server)
        self._ip_in(server, "link", "set", link.server_dev, "down")

    def heal(self, client: str, server: str) -> None:
        link = self.find(client, server)
        self._ip_in(server, "link", "set", link.server_dev, "up")

    def isolate(self, host: str) -> list[tuple[str, str]]:
        """Cut every link of ``host`` but the harness's own; the pairs cut, to heal them later."""
        pairs = [(link.client, link.server) for link in self.links
                 if host in (link.client, link.server) and "root" not in (link.client, link.server)]
        for client, server in pairs:
            self.cut(client, server)
        return pairs

    def heal_all(self, pairs: list[tuple[str, str]]) -> None:
        for client, server in pairs:
            self.heal(client, server)

    def exec_prefix(self, host: str) -> list[str]:
        return [] if host == "root" else ["ip", "netns", "exec", self.ns(host)]

    def close(self) -> None:
        """Kill every process in the run's namespaces and delete them (their links go with them)."""
        for host in reversed(self.hosts):
            kill_all_in(self.ns(host))
        for host in reversed(self.hosts):
            ip("netns", "del", self.ns(host), check=False)
        self.hosts.clear()
