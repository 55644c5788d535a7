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
import json
import os
import signal
import sys
import threading
import time
from decimal import Decimal
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
# minutes, or 0.25 s per approval if more (each approval is seven deliveries; 10,000 of them on
# 2 shared cores drain at 40-50 deliveries/s, which is slow but not a fault).
DRAIN_MAX_SECONDS = 1200
DRAIN_MAX_SECONDS_PER_APPROVAL = 0.25


async def steady_load(base_url: str, requests, *, rate: float, headers: dict) -> tuple[list[int], int, float]:
    """POST every (path, body) at ``rate`` per second, at most IN_FLIGHT at once; when the server
    falls behind, the sender waits (and the report shows the rate reached). Returns the statuses
    (0: no answer), how many were sent and the seconds it took."""
    statuses: list[int] = []
    slots = asyncio.Semaphore(IN_FLIGHT)
    tasks = []
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as client:

        async def one(path: str, body: dict) -> None:
            try:
                statuses.append((await client.post(path, json=body)).status_code)
            except httpx.HTTPError:
                statuses.append(0)
            finally:
                slots.release()

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
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        from expenses.models import Expense
        from organizations.models import Category, CostCenter, Membership, Organization, Role

        org = Organization.objects.create(name="Faults", slug="faults", currency="EUR",
                                          second_approval_threshold=Decimal("100000"),
                                          receipt_required_threshold=Decimal("100000"))
        User = get_user_model()
        admin = Membership.objects.create(user=User.objects.create_user("fault-admin", password="x-fault-pass-1"),
                                          organization=org, role=Role.ADMIN)
        employees = [Membership.objects.create(user=User.objects.create_user(f"fault-e{i}", password="x-fault-pass-1",
                                                                             email=f"e{i}@example.com"),
                                               organization=org, role=Role.EMPLOYEE, reports_to=admin)
                     for i in range(10)]
        # Budgets fit about 80% of the approvals: the budget check must refuse the rest exactly.
        per_cc = Decimal("10.00") * self.approvals * Decimal("0.8") / 5
        self.cost_centers = [CostCenter.objects.create(organization=org, code=f"CC{i}", name=f"CC{i}",
                                                       monthly_budget=per_cc.quantize(Decimal("0.01")))
                             for i in range(5)]
        category = Category.objects.create(organization=org, code="travel", name="Travel")
        today = org.today()
        now = dt.datetime.now(dt.UTC)
        rows = [Expense(organization=org, employee=employees[i % 10], cost_center=self.cost_centers[i % 5],
                        category=category, amount=Decimal("10.00"), merchant="fault", incurred_on=today,
                        state="submitted", submitted_at=now) for i in range(self.approvals)]
        Expense.objects.bulk_create(rows, batch_size=2000)
        self.requests = iter([(f"/api/v1/expenses/{e.pk}/approve/", {}) for e in rows])
        self.headers = {"Authorization": f"Token {Token.objects.create(user=admin.user).key}"}
        self.org = org
        from django.db import connections

        connections.close_all()

    def start_processes(self) -> None:
        self.stack.start_web(workers=2, **self.env())
        self.stack.spawn("worker", [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING",
                                    "-Q", "default,events,fanout", "-c", "2", "--without-mingle", "--without-gossip",
                                    "-n", "fault-main@%h"], **self.env())
        self.stack.spawn("slow-worker", [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING",
                                         "-Q", "slow", "-c", "1", "--without-mingle", "--without-gossip",
                                         "-n", "fault-slow@%h"], **self.env())
        self.stack.start_beat(**self.env())
        time.sleep(4)

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
                    self.stack.spawn("worker", [sys.executable, "-m", "celery", "-A", "config", "worker", "-l",
                                                "WARNING", "-Q", "default,events,fanout", "-c", "2", "--without-mingle",
                                                "--without-gossip", "-n", "fault-main@%h"], **self.env())
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
        self.drain_budget = max(DRAIN_MAX_SECONDS, DRAIN_MAX_SECONDS_PER_APPROVAL * self.approvals)
        self.drain_deadline = started + self.drain_budget
        self.wait_until_settled("after the load")
        self.dead_before_replay = dict(Delivery.objects.filter(status="dead").values_list("subscriber").annotate(
            n=Count("id")))
        replayed = replaying.replay(Delivery.objects.filter(status="dead"))
        self.log(f"replayed {replayed} dead deliveries")
        self.wait_until_settled("after the replay")
        self.drain_seconds = time.monotonic() - started

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
            time.sleep(1)

    def check(self) -> int:
        from django.core.management import call_command
        from django.db.models import Count, Q, Sum

        from accounting.models import JournalEntry, Reimbursement
        from accounting.queries import trial_balance
        from audit.models import AuditEntry
        from audit.services import verify_chain
        from events.models import Delivery, Event
        from expenses.models import Expense, MonthlySpend
        from notifications.models import Notification

        approved = Expense.objects.filter(organization=self.org, state="approved")
        approved_events = Event.objects.filter(type="expense.approved", organization_id=self.org.pk)
        per_expense = approved_events.values("aggregate_id").annotate(n=Count("id"))
        rows = trial_balance(self.org.pk)
        figures = {
            "approvals_sent_http_statuses": self.http,
            "load_seconds": round(self.load_seconds, 1),
            "approvals_per_second_reached": round(sum(self.http.values()) / self.load_seconds, 1),
            "drain_and_replay_seconds": round(self.drain_seconds, 1),
            "deliveries_total": Delivery.objects.count(),
            "expenses_approved": approved.count(),
            "expense_approved_events": approved_events.count(),
            "events_per_approved_expense_max": max((r["n"] for r in per_expense), default=0),
            "journal_entries_for_approvals": JournalEntry.objects.filter(
                source_event_id__in=approved_events.values("id")).count(),
            "reimbursements": Reimbursement.objects.filter(organization=self.org).count(),
            "audit_entries": AuditEntry.objects.filter(organization_id=self.org.pk).count(),
            "events_total": Event.objects.filter(organization_id=self.org.pk).count(),
            "approved_notifications": Notification.objects.filter(kind="expense_approved").count(),
            "deliveries_not_done": Delivery.objects.exclude(status="done").count(),
            "deliveries_not_done_by_subscriber": dict(Delivery.objects.exclude(status="done").values_list(
                "subscriber").annotate(n=Count("id")).order_by("subscriber")),
            "dead_before_replay": self.dead_before_replay,
            "trial_balance_debits": str(sum(r.debit for r in rows)),
            "trial_balance_credits": str(sum(r.credit for r in rows)),
            "audit_chain_ok": verify_chain(self.org.pk).ok,
        }
        overspent = []
        for cc in self.cost_centers:
            total = approved.filter(cost_center=cc).aggregate(t=Sum("amount"))["t"] or Decimal("0")
            if total > cc.monthly_budget:
                overspent.append(cc.code)
        figures["cost_centres_overspent"] = overspent
        write = {(r["cost_center_id"], r["category_id"]): (r["a"], r["t"] or Decimal("0")) for r in
                 Expense.objects.filter(organization=self.org).values("cost_center_id", "category_id").annotate(
                     a=Count("id", filter=Q(state="approved")), t=Sum("amount", filter=Q(state="approved")))}
        read = {(m.cost_center_id, m.category_id): (m.approved_count, m.approved_total) for m in
                MonthlySpend.objects.filter(organization_id=self.org.pk)}
        figures["read_model_equals_write_model"] = {k: v for k, v in write.items() if v[0]} == {
            k: v for k, v in read.items() if v[0]}
        call_command("verify_audit", "--organisation", str(self.org.pk))
        checks = {
            "one expense.approved per approved expense": figures["expense_approved_events"] == figures[
                "expenses_approved"] and figures["events_per_approved_expense_max"] <= 1,
            "one journal entry per approval": figures["journal_entries_for_approvals"] == figures["expenses_approved"],
            "one reimbursement per approval": figures["reimbursements"] == figures["expenses_approved"],
            "one audit entry per event": figures["audit_entries"] == figures["events_total"],
            "one approved notification per approval": figures["approved_notifications"] == figures[
                "expenses_approved"],
            "nothing pending, in flight or dead after replay": figures["deliveries_not_done"] == 0,
            "dead letters only of the failing subscriber": set(self.dead_before_replay) <= {"faults.flaky"},
            "trial balance nets to zero": figures["trial_balance_debits"] == figures["trial_balance_credits"],
            "read model equals write model": figures["read_model_equals_write_model"],
            "audit chain verifies": figures["audit_chain_ok"],
            "no budget overspent": not overspent,
            "some approvals went through": figures["expenses_approved"] > 0,
        }
        print("\nfaults injected:\n  " + "\n  ".join(self.faults))
        print("\nfigures:\n" + json.dumps(figures, indent=2, default=str))
        print("\nchecks:")
        for name, ok in checks.items():
            print(f"  {'PASS' if ok else 'FAIL'}  {name}")
        failed = [name for name, ok in checks.items() if not ok]
        print(f"\n{len(checks) - len(failed)} passed, {len(failed)} failed", flush=True)
        return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=40.0)
    args = parser.parse_args()
    return FaultRun(args.approvals, args.rate).run()


if __name__ == "__main__":
    sys.exit(main())
