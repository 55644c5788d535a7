"""The fault suite: approvals through the API at a steady rate while the worker is SIGKILLed and
restarted, Redis and PostgreSQL are restarted, one subscriber fails for a while and one is slow.
Then everything drains and the invariants are checked exactly.

    python -m tests.faults.suite --approvals 10000 --rate 40     # `make faults`
    python -m tests.faults.suite --approvals 240 --rate 12       # the short version in `make test`

Runs its own PostgreSQL and Redis (it restarts them), on loopback, and stops by itself.
Exit status 0 only if every invariant holds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The report is what this prints: no INFO line per HTTP request (10,000 of them) around it.
os.environ.setdefault("LOG_LEVEL", "WARNING")
EXTRA = "tests.faults.subscribers"
os.environ["OUTLAY_EXTRA_SUBSCRIBERS"] = EXTRA

import httpx  # noqa: E402

from bench.stack import Stack  # noqa: E402

FAST = {"OUTBOX_SWEEP_SECONDS": "1", "OUTBOX_LEASE_SECONDS": "5", "OUTBOX_RETRY_BASE_SECONDS": "0.5",
        "OUTBOX_RETRY_CAP_SECONDS": "3", "OUTLAY_EXTRA_SUBSCRIBERS": EXTRA,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
# Workers keep their database connections (CONN_MAX_AGE as in production): a PostgreSQL restart
# must be survived the way production survives it, by the health check on reuse.
# Requests in flight at once. The sender waits for a free slot rather than queueing thousands of
# requests inside httpx's pool: that queue is scanned on every event, so a backlog (a slow
# server on a busy machine, a Redis outage) made the sender itself spin at 100% CPU and stop
# sending, and the run measured its own load generator instead of the product.
IN_FLIGHT = 32
# Draining ends when nothing is pending or in flight; it fails only if no delivery finished for
# this long (a stuck system), not after a fixed time (10,000 approvals on a loaded 2-core machine
# take a while to drain, and that is not a fault).
DRAIN_STALL_SECONDS = 180
# ...and it stops waiting after this long in all (both waits, before and after the replay), so a
# run that cannot drain still prints its figures (and fails) instead of running for hours: 20
# minutes, or 0.25 s per approval if more (each approval is eight deliveries here, the suite's
# two subscribers included; a slow drain on 2 shared cores is not a fault).
DRAIN_MAX_SECONDS = 1200
DRAIN_MAX_SECONDS_PER_APPROVAL = 0.25
# Threads of the slow integration's worker: 100 ms of waiting each, so up to 80 deliveries a second.
SLOW_THREADS = 8


async def steady_load(base_url: str, requests, *, rate: float, headers: dict,
                      latencies: list[float] | None = None) -> tuple[list[int], int, float]:
    """POST every (path, body) at ``rate`` per second, at most IN_FLIGHT at once; when the server
    falls behind, the sender waits (and the report shows the rate reached). Returns the statuses
    (0: no answer), how many were sent and the seconds it took; each request's seconds go to
    ``latencies`` if given."""
    statuses: list[int] = []
    slots = asyncio.Semaphore(IN_FLIGHT)
    tasks = []
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as client:

        async def one(path: str, body: dict) -> None:
            began = time.perf_counter()
            try:
                statuses.append((await client.post(path, json=body)).status_code)
            except httpx.HTTPError:
                statuses.append(0)
            finally:
                slots.release()
                if latencies is not None:
                    latencies.append(time.perf_counter() - began)

        start = time.perf_counter()
        for sent, (path, body) in enumerate(requests):
            delay = start + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(path, body)))
        await asyncio.gather(*tasks)
    return statuses, len(tasks), time.perf_counter() - start


class FaultRun:
    def __init__(self, approvals: int, rate: float) -> None:
        self.approvals, self.rate = approvals, rate
        self.stack = Stack()
        self.faults: list[str] = []
        self.flag = self.stack.base / "flaky-fails"
        self.stop_faults = threading.Event()

    def log(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
        self.faults.append(f"{stamp} {text}")
        print(f"[fault {stamp}] {text}", flush=True)

    def env(self) -> dict:
        return {**FAST, "FAULT_FLAG_FILE": str(self.flag)}

    # --- stack --------------------------------------------------------------------------------
    def setup(self) -> None:
        os.environ["FAULT_FLAG_FILE"] = str(self.flag)
        self.stack.start_services()
        self.stack.manage("migrate", "--no-input", "-v", "0")
        import django

        django.setup()
        from tests.faults import scenario

        made = scenario.create(self.approvals)
        self.org_id = made.org_id
        self.requests = iter([(path, {}) for path in made.paths])
        self.headers = {"Authorization": f"Token {made.token}"}
        from django.db import connections

        connections.close_all()

    # The suite's workers, by the name the stack knows them: restarted by ``supervise`` when one
    # exits by itself, as supervisord does under ``make run``.
    WORKERS = {
        "worker": ["-Q", "default,events,fanout", "-c", "2", "-n", "fault-main@%h"],
        # The slow integration waits on a remote system (100 ms a delivery, no CPU): deployed as
        # such a subscriber should be, on a worker of threads (docs/deploy.md), not one process
        # whose floor would be 10 deliveries a second. It still lags behind the others.
        "slow-worker": ["-Q", "slow", "-P", "threads", "-c", str(SLOW_THREADS), "-n", "fault-slow@%h"],
    }

    def start_worker(self, name: str) -> None:
        self.stack.spawn(name, [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING",
                                "--without-mingle", "--without-gossip", *self.WORKERS[name]], **self.env())

    def start_processes(self) -> None:
        self.stack.start_web(workers=2, **self.env())
        for name in self.WORKERS:
            self.start_worker(name)
        self.stack.start_beat(**self.env())
        time.sleep(4)

    def supervise(self) -> None:
        """Restart a worker that exited by itself, and say so in the report. Celery's threads pool
        exits on a lost broker connection (kombu closes the channel of a connection already gone:
        "Unrecoverable error: AttributeError ... 'hostname'"), where the prefork pool reconnects;
        in production supervisord restarts it (``config.launch``), here this does."""
        for name in self.WORKERS:
            proc = self.stack.procs.get(name)
            if proc is not None and proc.poll() is not None:
                self.log(f"{name} exited by itself (status {proc.returncode}); restarted, as supervisord would")
                self.start_worker(name)

    # --- faults -------------------------------------------------------------------------------
    def inject(self, duration: float) -> None:
        """Run in a thread during the load: a schedule of faults relative to the load's length."""
        start = time.monotonic()

        def at(fraction: float) -> bool:
            return time.monotonic() - start >= duration * fraction

        done: set[str] = set()
        next_kill = 3.0
        # Worker kills go on for as long as the load does (it may outlast the plan on a slow
        # machine); the one-off faults happen at fractions of the planned duration.
        while not self.stop_faults.is_set():
            elapsed = time.monotonic() - start
            if elapsed >= next_kill:
                proc = self.stack.procs.get("worker")
                if proc and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
                    self.log("worker SIGKILLed (pool children included)")
                    self.start_worker("worker")
                    self.log("worker restarted")
                next_kill = elapsed + max(4.0, duration / 6)
            if at(0.15) and "flaky" not in done:
                done.add("flaky")
                self.flag.write_text("fail")
                self.log("subscriber faults.flaky starts failing")
            if at(0.3) and "redis" not in done and self.stack.redis:
                done.add("redis")
                self.stack.redis.stop()
                self.log("Redis (broker, channel layer, cache) stopped")
                time.sleep(3)
                self.stack.redis.start()
                self.log("Redis restarted")
            if at(0.55) and "flaky-ok" not in done:
                done.add("flaky-ok")
                self.flag.unlink(missing_ok=True)
                self.log("subscriber faults.flaky recovers")
            if at(0.65) and "postgres" not in done and self.stack.pg:
                done.add("postgres")
                self.stack.pg.stop()  # SIGINT: fast shutdown
                self.log("PostgreSQL stopped (fast shutdown)")
                time.sleep(1)
                self.stack.pg.start()
                self.log("PostgreSQL restarted")
            self.supervise()
            time.sleep(0.2)

    # --- run ----------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            self.setup()
            self.start_processes()
            duration = self.approvals / self.rate
            injector = threading.Thread(target=self.inject, args=(duration,), daemon=True)
            injector.start()
            statuses, sent, self.load_seconds = asyncio.run(steady_load(self.stack.url, self.requests,
                                                                        rate=self.rate, headers=self.headers))
            self.stop_faults.set()
            injector.join(30)
            self.flag.unlink(missing_ok=True)
            self.http = {str(code): statuses.count(code) for code in sorted(set(statuses))}
            print(f"load done: {sent} approvals sent, statuses {self.http}", flush=True)
            self.drain()
            return self.check()
        finally:
            self.stack.close()

    def drain(self) -> None:
        from django.db import connections
        from django.db.models import Count

        from events import replaying
        from events.models import Delivery

        connections.close_all()
        started = time.monotonic()
        self.load_ended_at = dt.datetime.now(dt.UTC)
        # what each subscriber still had to do when the load stopped: with the seconds below, the
        # pace each one drained at
        self.backlog_at_load_end = dict(Delivery.objects.filter(status__in=["pending", "in_flight"]).values_list(
            "subscriber").annotate(n=Count("id")).order_by("subscriber"))
        self.drain_budget = max(DRAIN_MAX_SECONDS, DRAIN_MAX_SECONDS_PER_APPROVAL * self.approvals)
        self.drain_deadline = started + self.drain_budget
        self.wait_until_settled("after the load")
        self.dead_before_replay = dict(Delivery.objects.filter(status="dead").values_list("subscriber").annotate(
            n=Count("id")))
        replayed = replaying.replay(Delivery.objects.filter(status="dead"))
        self.log(f"replayed {replayed} dead deliveries")
        self.wait_until_settled("after the replay")
        self.drain_seconds = time.monotonic() - started
        self.drained_by_subscriber = self.last_done_by_subscriber()

    def last_done_by_subscriber(self) -> dict[str, float]:
        """Seconds from the end of the load to each subscriber's last delivery done (the replayed
        dead letters included): which part of the bus the drain waited on."""
        from django.db.models import Max

        from events.models import Delivery

        last = Delivery.objects.filter(status="done").values_list("subscriber").annotate(at=Max("done_at"))
        return {name: round((at - self.load_ended_at).total_seconds(), 1) for name, at in sorted(last)}

    def wait_until_settled(self, when: str) -> None:
        """Until no delivery is pending or in flight; gives up only when none finished for
        DRAIN_STALL_SECONDS (the check then reports what is left)."""
        from events.models import Delivery

        busy, last_progress = None, time.monotonic()
        while True:
            now_busy = Delivery.objects.filter(status__in=["pending", "in_flight"]).count()
            if now_busy == 0:
                return
            if busy is None or now_busy < busy:
                busy, last_progress = now_busy, time.monotonic()
            elif time.monotonic() - last_progress > DRAIN_STALL_SECONDS:
                self.log(f"drain {when} STALLED: {now_busy} deliveries pending or in flight, "
                         f"none finished for {DRAIN_STALL_SECONDS} s")
                return
            if time.monotonic() > self.drain_deadline:
                self.log(f"drain {when} GAVE UP ({self.drain_budget:.0f} s in all): {now_busy} deliveries pending or "
                         "in flight")
                return
            self.supervise()
            time.sleep(1)

    def check(self) -> int:
        from tests.faults import scenario

        invariants, checks = scenario.check(self.org_id, dead_before_replay=self.dead_before_replay)
        figures = {
            "approvals_sent_http_statuses": self.http,
            "load_seconds": round(self.load_seconds, 1),
            "approvals_per_second_reached": round(sum(self.http.values()) / self.load_seconds, 1),
            "drain_and_replay_seconds": round(self.drain_seconds, 1),
            "backlog_at_the_end_of_the_load_by_subscriber": self.backlog_at_load_end,
            "last_done_after_the_load_seconds_by_subscriber": self.drained_by_subscriber,
            **invariants,
        }
        print("\nfaults injected:\n  " + "\n  ".join(self.faults))
        return 1 if scenario.report(figures, checks) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=40.0)
    args = parser.parse_args()
    return FaultRun(args.approvals, args.rate).run()


if __name__ == "__main__":
    sys.exit(main())
