"""`make bench` (webhooks part): webhooks/s to a local receiver, and a healthy endpoint's latency
with and without a dead endpoint beside it (one refusing connections, one that hangs).

Run under ``python -m config.embedded --ephemeral -- python bench/webhooks.py`` (``make bench``
does). It starts a bus worker, a webhooks worker (threads pool, as in the Procfile) and beat,
and a receiver on 127.0.0.1 that verifies every signature with ``standardwebhooks``. Webhook rows
are written straight into the outbox tables (one event per aggregate, so ordering never serialises
them): this measures the webhook pipeline (scheduler, send, record), not the bus before it.
Writes bench/results/webhooks-<timestamp>.md and .json. BENCH_QUICK=1 shrinks every size.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
QUICK = os.environ.get("BENCH_QUICK") == "1"
ENV = {"WEBHOOK_ALLOW_HTTP": "1", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1", "WEBHOOK_TIMEOUT_SECONDS": "5",
       "WEBHOOK_SCHEDULE_SECONDS": "0.5", "WEBHOOK_RETRY_SCHEDULE": "0,1,2,4,8,16", "CONN_MAX_AGE": "600"}
os.environ.update(ENV)

import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from organizations.models import Organization  # noqa: E402
from tests.support.receiver import Answer, Receiver  # noqa: E402
from webhooks import services  # noqa: E402
from webhooks.models import WebhookAttempt, WebhookDelivery  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def start(kind: str, *args: str) -> subprocess.Popen:
    log = open(ROOT / "var" / f"bench-webhooks-{kind}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", kind, "--loglevel", "WARNING", *args],
                            cwd=ROOT, env={**os.environ, **ENV}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def insert(endpoints: list, count: int) -> list[int]:
    """``count`` events (one aggregate each) and one pending webhook per endpoint for each."""
    now = timezone.now()
    org = endpoints[0].organization_id
    ids = [uuid.uuid4() for _ in range(count)]
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO events_event (id, type, version, occurred_at, organization_id, aggregate_type, aggregate_id,
                                      sequence, actor_label, correlation_id, payload, origin)
            SELECT i, 'webhook.test', 1, %s, %s, 'bench', i::text, 1, 'bench', i::text,
                   jsonb_build_object('endpoint_id', %s, 'organization_id', %s, 'url', 'bench',
                                      'requested_by_user_id', null, 'message', 'bench'), '{}'::jsonb
            FROM unnest(%s::uuid[]) AS i""", [now, org, str(endpoints[0].pk), org, ids])
        cursor.execute("""
            INSERT INTO webhooks_webhookdelivery (endpoint_id, event_id, webhook_id, organization_id, event_type,
                aggregate_key, sequence, occurred_at, status, attempts, next_attempt_at, last_error, created_at)
            SELECT ep, i, 'msg_' || replace(gen_random_uuid()::text, '-', ''), %s, 'webhook.test', 'bench:' || i, 1,
                   %s, 'pending', 0, %s, '', %s
            FROM unnest(%s::uuid[]) AS i CROSS JOIN unnest(%s::uuid[]) AS ep
            RETURNING id""", [org, now, now, now, ids, [e.pk for e in endpoints]])
        rows = [r[0] for r in cursor.fetchall()]
    services.kick_scheduler()
    return rows


def wait_delivered(endpoint, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while WebhookDelivery.objects.filter(endpoint=endpoint, status="delivered").count() < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {WebhookDelivery.objects.filter(endpoint=endpoint, status='delivered').count()}"
                               f" of {count} delivered")
        time.sleep(0.2)


def latencies(endpoint) -> list[float]:
    return [(d - c).total_seconds() * 1000 for c, d in
            WebhookDelivery.objects.filter(endpoint=endpoint, status="delivered").values_list("created_at",
                                                                                               "delivered_at")]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def steady(healthy, beside: list, rate: float, seconds: float) -> dict:
    """Open loop: one webhook per endpoint every 1/rate s; the healthy endpoint's latency."""
    WebhookDelivery.objects.filter(endpoint=healthy).delete()
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < seconds:
        insert([healthy, *beside], 1)
        sent += 1
        time.sleep(max(0.0, started + sent / rate - time.monotonic()))
    wait_delivered(healthy, sent, 60)
    values = latencies(healthy)
    return {"webhooks": sent, "rate_per_s": rate, "p50_ms": round(statistics.median(values), 1),
            "p99_ms": round(pct(values, 99), 1), "max_ms": round(max(values), 1)}


def main() -> None:
    call_command("migrate", "--no-input", "-v", "0")
    org = Organization.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
    receiver = Receiver()
    healthy, secret = services.endpoint_create(organization_id=org.pk, created_by_id=None, url=receiver.url,
                                               event_types=[])
    receiver.secrets = [secret]
    refused_receiver = Receiver()
    refused_url = refused_receiver.url
    refused_receiver.stop()
    refusing, _ = services.endpoint_create(organization_id=org.pk, created_by_id=None, url=refused_url, event_types=[])
    hanging_receiver = Receiver(answer=lambda call: Answer(200, delay=30))
    hanging, _ = services.endpoint_create(organization_id=org.pk, created_by_id=None, url=hanging_receiver.url,
                                          event_types=[])
    concurrency = os.environ.get("WEBHOOK_WORKER_CONCURRENCY", "8")
    procs = [start("worker", "--queues", "default,events,fanout", "--concurrency", "2", "-n", "bus@%h"),
             start("worker", "--queues", "webhooks", "--pool", "threads", "--concurrency", concurrency,
                   "-n", "webhooks@%h"),
             start("beat", "--schedule", str(ROOT / "var" / "bench-webhooks-beat.schedule"), "--pidfile=")]
    report = {"started": dt.datetime.now(dt.UTC).isoformat(), "quick": QUICK, "webhooks_worker_threads": concurrency,
              "settings": ENV}
    try:
        time.sleep(8)  # workers ready
        count = 200 if QUICK else 2000
        begun = time.monotonic()
        insert([healthy], count)
        wait_delivered(healthy, count, 300)
        took = time.monotonic() - begun
        assert len(receiver.accepted) >= count and all(c.verified_with == [0] for c in receiver.calls)
        waits = [(a - c).total_seconds() * 1000 for c, a in WebhookAttempt.objects.filter(
            delivery__endpoint=healthy).values_list("delivery__created_at", "started_at")]
        durations = list(WebhookAttempt.objects.filter(delivery__endpoint=healthy)
                         .values_list("duration_ms", flat=True))
        report["throughput"] = {"webhooks": count, "seconds": round(took, 2), "per_s": round(count / took, 1),
                                "request_ms_p50": statistics.median(durations),
                                "queued_to_started_ms_p50": round(statistics.median(waits), 1)}
        print("throughput", report["throughput"], flush=True)
        rate, seconds = (10, 5) if QUICK else (20, 30)
        report["healthy_alone"] = steady(healthy, [], rate, seconds)
        print("alone", report["healthy_alone"], flush=True)
        report["beside_refusing"] = steady(healthy, [refusing], rate, seconds)
        print("beside refusing", report["beside_refusing"], flush=True)
        report["beside_hanging"] = steady(healthy, [hanging], rate, seconds)
        print("beside hanging", report["beside_hanging"], flush=True)
        report["dead_endpoint_tries"] = {
            name: {"webhooks": WebhookDelivery.objects.filter(endpoint=ep).count(),
                   "tries": WebhookAttempt.objects.filter(delivery__endpoint=ep).count()}
            for name, ep in (("refusing", refusing), ("hanging", hanging))}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        receiver.stop()
        hanging_receiver.stop()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"webhooks-{stamp}.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Webhooks benchmark {stamp}{' (quick)' if QUICK else ''}", "",
             f"Throughput to a local receiver: **{report['throughput']['per_s']} webhooks/s** "
             f"({report['throughput']['webhooks']} in {report['throughput']['seconds']} s, "
             f"{concurrency} sender threads)", "",
             "| healthy endpoint at a steady rate | webhooks | p50 ms | p99 ms | max ms |",
             "| --- | --- | --- | --- | --- |"]
    for key, label in (("healthy_alone", "alone"), ("beside_refusing", "beside an endpoint refusing connections"),
                       ("beside_hanging", "beside an endpoint that hangs (5 s timeout)")):
        r = report[key]
        lines.append(f"| {label} | {r['webhooks']} at {r['rate_per_s']}/s | {r['p50_ms']} | {r['p99_ms']} | "
                     f"{r['max_ms']} |")
    lines += ["", f"Tries at the dead endpoints: {report['dead_endpoint_tries']}", ""]
    (RESULTS / f"webhooks-{stamp}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
