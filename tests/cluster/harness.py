"""The cluster harness (issue 23): Outlay on nine hosts, under network partitions and host deaths.

Hosts are network namespaces (tests/cluster/network.py): PostgreSQL, Redis, a load balancer
(Debian's HAProxy, TCP mode, health-checking each web host's /livez), two web hosts, two worker
hosts and two beat hosts. PostgreSQL and Redis are the same embedded servers as `make run`'s
(config/embedded.py: no extra package, the same PostgreSQL 18 the test suite runs against),
listening on their host's address; every application process reaches them only through
DATABASE_URL / REDIS_URL. Beat runs on beat1; beat2 is started only by the fault that needs two.

Each fault runs while approvals go through the load balancer at a steady rate; then the run
drains and the fault suite's exact checks run on that fault's organisation (tests/faults/
scenario.py), plus: every request was answered within the bound the configured timeouts give,
and how long recovery took (from healing until the last delivery was done).

    python -m tests.cluster.harness                      # `make cluster`: every fault, the scaling runs
    python -m tests.cluster.harness --short              # the short version `make test` runs
    python -m tests.cluster.harness --faults 1,4 --approvals 200 --hold 10 --no-scaling

Needs root (it says so otherwise). Writes tests/cluster/results/<UTC time>.md (and .json; the
short run ``make test`` makes: var/cluster-results/, out of the repository's tree) and
exits 0 only if every check of every fault held. Every namespace and process is gone when it
exits, also on failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from config.embedded import VAR, EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from tests.cluster.network import Network, available, sweep_leftovers  # noqa: E402

RESULTS = ROOT / "tests" / "cluster" / "results"
SHORT_RESULTS = ROOT / "var" / "cluster-results"  # make test's short run: not a result to keep
WEB_PORT, LB_PORT = 8000, 8080
CLIENT_HOSTS = ["web1", "web2", "worker1", "worker2", "beat1", "beat2"]
# Fast leases and sweeps, as in the fault suite, so a lost worker costs seconds; the payout run
# is due every 20 s so that two beats would show a double run within a fault's window.
APP_ENV = {
    "OUTBOX_SWEEP_SECONDS": "1", "OUTBOX_LEASE_SECONDS": "5", "OUTBOX_RETRY_BASE_SECONDS": "0.5",
    "OUTBOX_RETRY_CAP_SECONDS": "3", "PAYOUT_RUN_SECONDS": "20", "OUTLAY_EXTRA_SUBSCRIBERS": "",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend", "DEBUG": "0", "LOG_LEVEL": "WARNING",
    "ALLOWED_HOSTS": "*", "API_THROTTLE_USER": "1000000/minute", "API_THROTTLE_ANON": "1000000/minute",
    "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "config.settings",
}


def request_bound_seconds() -> float:
    """The longest a request may take when a server vanishes, from the configured timeouts: a dead
    pooled connection is given up after the TCP user timeout, a new one after the connect
    timeout, and the after-commit send to a dead broker after its connect + socket timeouts."""
    from django.conf import settings

    return (settings.DATABASE_TCP_USER_TIMEOUT_MS / 1000 + settings.DATABASE_CONNECT_TIMEOUT
            + settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"]
            + settings.REDIS_SOCKET_TIMEOUT + 5)  # + 5 s for a loaded 2-core machine


def say(text: str) -> None:
    print(f"[cluster {dt.datetime.now(dt.UTC):%H:%M:%S}] {text}", flush=True)


class Cluster:
    def __init__(self) -> None:
        VAR.mkdir(exist_ok=True)
        self.base = Path(tempfile.mkdtemp(prefix="cluster-", dir=VAR))
        self.logs = self.base / "logs"
        self.logs.mkdir()
        self.net = Network()
        self.procs: dict[str, tuple[str, subprocess.Popen]] = {}
        self.pg: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None

    # --- hosts and servers ------------------------------------------------------------------------
    def build(self) -> None:
        sweep_leftovers()
        for host in ["pg", "redis", "lb", *CLIENT_HOSTS]:
            self.net.add_host(host)
        for server in ["pg", "redis", "lb"]:
            self.net.add_service_address(server)
            self.net.link("root", server)
        for client in CLIENT_HOSTS:
            self.net.link(client, "pg")
            self.net.link(client, "redis")
        for web in ["web1", "web2"]:
            self.net.link("lb", web)
        say(f"{len(self.net.hosts)} hosts, {len(self.net.links)} links in {self.net.cidr}")

    def start_servers(self) -> None:
        self.pg = EmbeddedPostgres(self.base / "pg", host=self.net.service["pg"], netns=self.net.ns("pg"),
                                   trust_network=self.net.cidr)
        self.pg.start()
        self.redis = EmbeddedRedis(self.base / "redis", persist=False, host=self.net.service["redis"],
                                   netns=self.net.ns("redis"))
        self.redis.start()
        os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = self.pg.url, self.redis.url
        say(f"PostgreSQL at {self.pg.url}, Redis at {self.redis.url}")
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT,
                       env=self.env(), check=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
        env.update(APP_ENV)
        env.update({"DATABASE_URL": self.pg.url, "REDIS_URL": self.redis.url})
        env.update(extra)
        return env

    # --- processes --------------------------------------------------------------------------------
    def spawn(self, host: str, name: str, command: list[str], **env: str) -> subprocess.Popen:
        self.stop(name)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen([*self.net.exec_prefix(host), *command], cwd=ROOT, env=self.env(**env),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = (host, proc)
        return proc

    def stop(self, name: str) -> None:
        _host, proc = self.procs.pop(name, (None, None))
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def start_web(self, host: str) -> None:
        self.spawn(host, host, [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "0.0.0.0",
                                "--port", str(WEB_PORT), "--no-access-log", "--log-level", "warning"])

    def start_worker(self, host: str, concurrency: int = 1) -> None:
        self.spawn(host, host, [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "INFO",
                                "-Q", "default,events,fanout", "-c", str(concurrency), "--without-mingle",
                                "--without-gossip", "-n", f"{host}@%h"], LOG_LEVEL="INFO")

    def start_beat(self, host: str) -> None:
        self.spawn(host, host, [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "WARNING",
                                "--schedule", str(self.base / f"{host}.schedule"), "--pidfile="])

    def start_lb(self) -> None:
        upstreams = "\n".join(f"    server {web} {self.net.find('lb', web).server_ip}:{WEB_PORT} check"
                              for web in ["web1", "web2"])
        config = self.base / "haproxy.cfg"
        config.write_text(f"""global
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 90s
    timeout server 90s
    timeout check 5s
    retries 2
    option redispatch
frontend outlay
    bind {self.net.service['lb']}:{LB_PORT}
    default_backend webs
backend webs
    balance roundrobin
    option httpchk GET /livez
    http-check expect status 200
    default-server inter 2s fall 3 rise 2
{upstreams}
""")
        self.spawn("lb", "lb", ["haproxy", "-db", "-f", str(config)])

    def start_all(self, worker_concurrency: int = 1) -> None:
        for web in ["web1", "web2"]:
            self.start_web(web)
        for worker in ["worker1", "worker2"]:
            self.start_worker(worker, worker_concurrency)
        self.start_beat("beat1")
        self.start_lb()
        self.wait_ready()

    @property
    def url(self) -> str:
        return f"http://{self.net.service['lb']}:{LB_PORT}"

    def readiness(self) -> dict:
        """/readyz through the load balancer (the harness reaches the web hosts only through it)."""
        import httpx

        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def wait_ready(self, timeout: float = 180) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.readiness().get("status") == "ok":
                return time.monotonic() - started
            for name, (_host, proc) in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n"
                                       + (self.logs / f"{name}.log").read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        raise TimeoutError(f"the cluster was not ready after {timeout:.0f} s: {self.readiness()}")

    def close(self) -> None:
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(name)
        self.net.close()  # kills whatever is left in every namespace, PostgreSQL and Redis included
        for server in (self.redis, self.pg):
            if server is not None and server.proc is not None:
                with contextlib.suppress(Exception):
                    server.proc.wait(5)
        keep = RESULTS / "logs"
        shutil.rmtree(keep, ignore_errors=True)
        with contextlib.suppress(OSError):
            shutil.copytree(self.logs, keep)
        shutil.rmtree(self.base, ignore_errors=True)


# --- faults -------------------------------------------------------------------------------------
@dataclass
class Fault:
    number: int
    title: str
    hold: float  # seconds the fault lasts in the full run

    def inject(self, c: Cluster) -> None:
        raise NotImplementedError

    def heal(self, c: Cluster) -> None:
        raise NotImplementedError

    def extra_checks(self, c: Cluster, org_id: int, window: tuple[dt.datetime, dt.datetime]) -> dict[str, bool]:
        return {}


class CutFault(Fault):
    def __init__(self, number: int, title: str, hold: float, pairs: list[tuple[str, str]]) -> None:
        super().__init__(number, title, hold)
        self.pairs = pairs

    def inject(self, c: Cluster) -> None:
        for client, server in self.pairs:
            c.net.cut(client, server)

    def heal(self, c: Cluster) -> None:
        for client, server in self.pairs:
            c.net.heal(client, server)


class PostgresIsolated(Fault):
    def inject(self, c: Cluster) -> None:
        self.pairs = c.net.isolate("pg")

    def heal(self, c: Cluster) -> None:
        c.net.heal_all(self.pairs)


class TwoBeats(Fault):
    """beat1 is partitioned; the operator starts beat2 (a failover); beat1 comes back: both run."""

    def inject(self, c: Cluster) -> None:
        self.pairs = c.net.isolate("beat1")
        c.start_beat("beat2")

    def heal(self, c: Cluster) -> None:
        c.net.heal_all(self.pairs)
        time.sleep(min(self.hold, 30))  # both beats run side by side, then beat2 is stopped again
        c.stop("beat2")

    def extra_checks(self, c: Cluster, org_id: int, window: tuple[dt.datetime, dt.datetime]) -> dict[str, bool]:
        from django.db.models import Count, Max

        from accounting.models import PayoutBatch
        from events.models import Attempt, Delivery

        times = sorted(PayoutBatch.objects.filter(organization_id=org_id).values_list("created_at", flat=True))
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        deliveries = Delivery.objects.filter(organization_id=org_id)
        attempts = Attempt.objects.filter(delivery__organization_id=org_id).count()
        worst = deliveries.aggregate(m=Max("attempts"))["m"] or 0
        self.figures = {"payout_batches": len(times), "shortest_gap_between_batches_s": min(gaps, default=None),
                        "attempts_per_delivery": round(attempts / max(deliveries.count(), 1), 2),
                        "most_attempts_of_one_delivery": worst,
                        "deliveries_by_attempts": dict(deliveries.values_list("attempts").annotate(n=Count("id")))}
        return {
            # Two beats each send the payout check every minute; a run is due PAYOUT_RUN_SECONDS
            # after the last batch, so two batches closer than that are a double schedule.
            "no double payout run (batches at least PAYOUT_RUN_SECONDS apart)":
                all(gap >= float(APP_ENV["PAYOUT_RUN_SECONDS"]) * 0.9 for gap in gaps),
            "no resend storm (at most 1.5 attempts per delivery)": attempts <= 1.5 * max(deliveries.count(), 1),
        }


class WorkerHostKilled(Fault):
    def inject(self, c: Cluster) -> None:
        from tests.cluster.network import kill_all_in

        killed = kill_all_in(c.net.ns("worker2"))
        c.procs.pop("worker2", None)
        say(f"worker2: {killed} processes SIGKILLed; the host stays dead")

    def heal(self, c: Cluster) -> None:
        pass  # never restarted


FAULTS = {
    1: CutFault(1, "a worker host partitioned from Redis (it still reaches PostgreSQL)", 60, [("worker1", "redis")]),
    2: CutFault(2, "a worker host partitioned from PostgreSQL while holding leases (it still reaches Redis)", 60,
                [("worker1", "pg")]),
    3: CutFault(3, "a web host partitioned from Redis", 60, [("web1", "redis")]),
    4: PostgresIsolated(4, "the PostgreSQL host partitioned from everyone", 20),
    5: TwoBeats(5, "the beat host partitioned, a second beat started, then both running", 30),
    6: WorkerHostKilled(6, "a whole worker host killed (SIGKILL of every process) and never restarted", 0),
}


# --- one fault under load -----------------------------------------------------------------------
@dataclass
class Outcome:
    fault: Fault
    figures: dict
    checks: dict[str, bool]


def wait_drained(org_id: int, budget: float) -> tuple[bool, float]:
    from events.models import Delivery

    started = time.monotonic()
    while time.monotonic() - started < budget:
        if not Delivery.objects.filter(organization_id=org_id, status__in=["pending", "in_flight"]).exists():
            return True, time.monotonic() - started
        time.sleep(0.5)
    return False, time.monotonic() - started


def run_fault(c: Cluster, fault: Fault, *, approvals: int, rate: float, hold: float, slug: str) -> Outcome:
    from django.db import connections
    from django.db.models import Count

    from events.models import Delivery
    from tests.faults import scenario
    from tests.faults.suite import steady_load

    say(f"fault {fault.number}: {fault.title} ({approvals} approvals at {rate}/s, {hold:.0f} s)")
    made = scenario.create(approvals, slug=slug)
    connections.close_all()
    latencies: list[float] = []
    result: dict = {}

    def load() -> None:
        result["statuses"], result["sent"], result["seconds"] = asyncio.run(steady_load(
            c.url, iter([(path, {}) for path in made.paths]), rate=rate,
            headers={"Authorization": f"Token {made.token}"}, latencies=latencies))

    loader = threading.Thread(target=load, daemon=True)
    started_at = dt.datetime.now(dt.UTC)
    loader.start()
    time.sleep(min(5.0, approvals / rate / 5))  # the load is under way before the fault
    fault.inject(c)
    injected = time.monotonic()
    say(f"fault {fault.number} injected")
    time.sleep(hold)
    fault.heal(c)
    healed = time.monotonic()
    say(f"fault {fault.number} healed after {healed - injected:.0f} s")
    loader.join()
    drained, _ = wait_drained(made.org_id, budget=max(300.0, approvals * 1.5))
    recovery = time.monotonic() - healed
    connections.close_all()
    dead = dict(Delivery.objects.filter(organization_id=made.org_id, status="dead").values_list("subscriber")
                .annotate(n=Count("id")))
    invariants, checks = scenario.check(made.org_id, dead_before_replay=dead, may_die=frozenset())
    statuses = result.get("statuses", [])
    bound = request_bound_seconds()
    figures = {
        "approvals_sent": result.get("sent"),
        "http_statuses": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "load_seconds": round(result.get("seconds", 0), 1),
        "slowest_request_s": round(max(latencies, default=0), 2),
        "request_bound_s": bound,
        "recovery_s_after_heal": round(recovery, 1) if drained else None,
        **invariants,
    }
    checks["every request answered (no hang past the client's 60 s)"] = 0 not in statuses and bool(statuses)
    checks[f"no request waited longer than the timeouts allow ({bound:.0f} s)"] = max(latencies, default=0) <= bound
    checks["drained after the fault"] = drained
    checks.update(fault.extra_checks(c, made.org_id, (started_at, dt.datetime.now(dt.UTC))))
    figures.update(getattr(fault, "figures", {}))
    say(f"fault {fault.number}: {sum(checks.values())} of {len(checks)} checks passed")
    return Outcome(fault, figures, checks)


# --- throughput across hosts --------------------------------------------------------------------
def measure_scaling(c: Cluster, approvals: int) -> list[dict]:
    """Approvals/s through the load balancer and deliveries/s, with 1, 2 and 4 worker processes
    on the two worker hosts (1 = one on worker1; 2 = one on each; 4 = two on each)."""
    from django.db import connections
    from django.db.models import Max, Min

    from events.models import Delivery
    from tests.faults import scenario
    from tests.faults.suite import steady_load

    rows = []
    for processes, layout in ((1, {"worker1": 1}), (2, {"worker1": 1, "worker2": 1}),
                              (4, {"worker1": 2, "worker2": 2})):
        for worker in ["worker1", "worker2"]:
            c.stop(worker)
        for worker, concurrency in layout.items():
            c.start_worker(worker, concurrency)
        c.wait_ready()
        made = scenario.create(approvals, slug=f"scale{processes}-{int(time.time())}")
        connections.close_all()
        statuses, sent, seconds = asyncio.run(steady_load(
            c.url, iter([(path, {}) for path in made.paths]), rate=10_000,
            headers={"Authorization": f"Token {made.token}"}))
        drained, _ = wait_drained(made.org_id, budget=600)
        deliveries = Delivery.objects.filter(organization_id=made.org_id)
        span = deliveries.aggregate(first=Min("created_at"), last=Max("done_at"))
        delivery_seconds = (span["last"] - span["first"]).total_seconds() if drained else None
        rows.append({"worker_processes": processes, "layout": layout, "approvals": sent,
                     "approved_200": statuses.count(200), "approvals_per_s": round(sent / seconds, 1),
                     "deliveries": deliveries.count(),
                     "deliveries_per_s": round(deliveries.count() / delivery_seconds, 1) if delivery_seconds else None})
        say(f"scaling, {processes} worker process(es): {rows[-1]}")
        connections.close_all()
    return rows


# --- the run ------------------------------------------------------------------------------------
def write_report(outcomes: list[Outcome], scaling: list[dict], meta: dict, folder: Path = RESULTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [f"# Cluster run {stamp}", "", f"Command: `{meta['command']}`", "",
             f"Machine: {os.cpu_count()} cores, load average at start {meta['load']}. Hosts: "
             f"{', '.join(meta['hosts'])}. Servers: embedded PostgreSQL and Redis (config/embedded.py), "
             "HAProxy (Debian) in TCP mode as the load balancer.", ""]
    for o in outcomes:
        passed = sum(o.checks.values())
        lines += [f"## Fault {o.fault.number}: {o.fault.title}", "",
                  f"{passed} of {len(o.checks)} checks passed.", "", "| check | result |", "| --- | --- |"]
        lines += [f"| {name} | {'PASS' if ok else '**FAIL**'} |" for name, ok in o.checks.items()]
        lines += ["", "```json", json.dumps(o.figures, indent=2, default=str), "```", ""]
    if scaling:
        lines += ["## Throughput across hosts", "",
                  "| worker processes | layout | approvals | approvals/s (through the LB) | deliveries "
                  "| deliveries/s |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['worker_processes']} | {r['layout']} | {r['approvals']} | {r['approvals_per_s']} | "
                  f"{r['deliveries']} | {r['deliveries_per_s']} |" for r in scaling]
        lines.append("")
    total = sum(len(o.checks) for o in outcomes)
    failed = sum(len(o.checks) - sum(o.checks.values()) for o in outcomes)
    lines += [f"{total - failed} passed, {failed} failed", ""]
    path = folder / f"{stamp}.md"
    path.write_text("\n".join(lines))
    (folder / f"{stamp}.json").write_text(json.dumps(
        {"meta": meta, "faults": [{"number": o.fault.number, "title": o.fault.title, "figures": o.figures,
                                   "checks": o.checks} for o in outcomes], "scaling": scaling},
        indent=2, default=str))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="1,2,3,4,5,6")
    # 240 at 3/s: the load outlasts the longest fault (60 s) and drains on a busy 2-core machine.
    parser.add_argument("--approvals", type=int, default=240, help="approvals per fault")
    parser.add_argument("--rate", type=float, default=3.0)
    parser.add_argument("--hold", type=float, default=None, help="seconds each fault lasts (default: the issue's)")
    parser.add_argument("--scaling-approvals", type=int, default=150)
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--short", action="store_true", help="the short version: faults 1 and 4, 10 s each")
    args = parser.parse_args(argv)
    if args.short:
        args.faults, args.approvals, args.rate, args.hold, args.no_scaling = "1,4", 120, 8.0, 10.0, True
    why_not = available()
    if why_not:
        print(f"cluster harness cannot run: {why_not}", file=sys.stderr)
        return 2
    cluster = Cluster()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    outcomes: list[Outcome] = []
    scaling: list[dict] = []
    meta = {"command": " ".join(["python -m tests.cluster.harness", *(argv or sys.argv[1:])]),
            "load": os.getloadavg()[0], "hosts": []}
    try:
        cluster.build()
        meta["hosts"] = list(cluster.net.hosts)
        cluster.start_servers()
        import django

        django.setup()
        cluster.start_all()
        say("cluster ready")
        stamp = int(time.time())
        for number in [int(n) for n in args.faults.split(",")]:
            fault = FAULTS[number]
            hold = args.hold if args.hold is not None else fault.hold
            outcomes.append(run_fault(cluster, fault, approvals=args.approvals, rate=args.rate, hold=hold,
                                      slug=f"fault{number}-{stamp}"))
        if not args.no_scaling:
            scaling = measure_scaling(cluster, args.scaling_approvals)
    finally:
        cluster.close()
        if outcomes or scaling:
            path = write_report(outcomes, scaling, meta, SHORT_RESULTS if args.short else RESULTS)
            print(path.read_text())
            print(f"report: {path.relative_to(ROOT)}")
    failed = sum(len(o.checks) - sum(o.checks.values()) for o in outcomes)
    return 1 if failed or (not outcomes and not scaling) else 0


if __name__ == "__main__":
    sys.exit(main())
