"""Measure the prune of done deliveries (``events.retention.prune_deliveries``) in one process.

    python -m config.embedded --ephemeral -- python bench/profile_prune.py [old deliveries] [batch]

Loads ``old`` done deliveries (five per event, an attempt each) done 40 days ago, and a tenth as
many done today, then prints the plan of one prune statement (EXPLAIN ANALYZE, rolled back),
prunes them with the default 30-day retention and no pause, and prints deliveries deleted per
second, each chunk's time (median and slowest), a batch claim's time on another connection
before and during the prune, and what is left. No Celery, no worker.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

LOAD = """
WITH ev AS (
    INSERT INTO events_event (id, type, version, occurred_at, organization_id, aggregate_type, aggregate_id,
                              sequence, actor_label, correlation_id, payload, origin)
    SELECT gen_random_uuid(), 'bench.pruned', 1, now() - make_interval(days => %(days)s) + g * interval '1 ms', 1,
           'bench', %(prefix)s || g, 1, '', 'bench-prune', jsonb_build_object('key', %(prefix)s || g), '{}'
    FROM generate_series(1, %(events)s) g RETURNING id, occurred_at
), d AS (
    INSERT INTO events_delivery (event_id, subscriber, event_type, organization_id, status, attempts, next_attempt_at,
                                 created_at, done_at, last_error)
    SELECT ev.id, 'bench.sub_' || s, 'bench.pruned', 1, %(done)s, 1, ev.occurred_at, ev.occurred_at, ev.occurred_at, ''
    FROM ev, generate_series(1, 5) s RETURNING id, created_at
)
INSERT INTO events_attempt (delivery_id, number, started_at, finished_at, outcome, error, traceback, worker)
SELECT id, 1, created_at, created_at, %(ok)s, '', '', 'bench' FROM d
"""


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from events import retention, sql
    from events.models import Attempt, Delivery, DeliveryStatus, Event, PrunedDeliveries

    call_command("migrate", "--no-input", verbosity=0)
    old = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else settings.OUTBOX_PRUNE_BATCH
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")  # a bulk load, not a request
        started = time.perf_counter()
        cursor.execute(LOAD, sql.with_statuses({"days": 40, "prefix": "old-", "events": old // 5}))
        cursor.execute(LOAD, sql.with_statuses({"days": 0, "prefix": "new-", "events": max(1, old // 50)}))
        cursor.execute("ANALYZE events_delivery")
        cursor.execute("ANALYZE events_attempt")
        cursor.execute("ANALYZE events_event")
    print(f"loaded {Delivery.objects.count():,} done deliveries ({old:,} done 40 days ago) in "
          f"{time.perf_counter() - started:.1f} s")

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql.PRUNE_CHUNK, sql.with_statuses({
            "after": 0, "batch": batch, "cutoff": timezone.now() - timedelta(days=30),
            "now": timezone.now()}))
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    print(f"one prune statement ({batch} rows looked at), rolled back:\n{plan}\n")

    def claim_ms() -> float:
        """What a worker's batch claim of a subscriber with nothing waiting costs now."""
        with connection.cursor() as cursor:
            begun = time.perf_counter()
            cursor.execute("SELECT id FROM events_delivery WHERE subscriber = 'bench.sub_1' AND status = %s "
                           "ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED", [DeliveryStatus.PENDING])
            cursor.fetchall()
            return (time.perf_counter() - begun) * 1000

    quiet_claims = [claim_ms() for _ in range(200)]
    chunk_ms: list[float] = []
    claims_during: list[float] = []
    stop = threading.Event()
    last = [time.perf_counter()]

    def claim_meanwhile() -> None:
        """A worker's claims, on a connection of their own, while the prune runs."""
        try:
            while not stop.is_set():
                claims_during.append(claim_ms())
                time.sleep(0.005)
        finally:
            connection.close()

    def progress(_result) -> None:
        now = time.perf_counter()
        chunk_ms.append((now - last[0]) * 1000)
        last[0] = now

    claimer = threading.Thread(target=claim_meanwhile)
    claimer.start()
    started = time.perf_counter()
    try:
        result = retention.prune_deliveries(30, batch=batch, pause=0, progress=progress)
    finally:
        stop.set()
        claimer.join()
    seconds = time.perf_counter() - started
    print(f"pruned {result.deleted:,} of {result.looked_at:,} looked at in {result.chunks} chunks: {seconds:.1f} s, "
          f"{result.deleted / seconds:,.0f} deliveries/s; chunk p50 {statistics.median(chunk_ms):.0f} ms, "
          f"slowest {max(chunk_ms):.0f} ms")
    print(f"a batch claim (nothing waiting) on another connection: p50 {statistics.median(quiet_claims):.2f} ms, "
          f"p99 {_p99(quiet_claims):.2f} ms before; p50 {statistics.median(claims_during):.2f} ms, "
          f"p99 {_p99(claims_during):.2f} ms during the prune ({len(claims_during)} claims)")
    print(f"left: {Delivery.objects.count():,} deliveries, {Attempt.objects.count():,} attempts, "
          f"{Event.objects.count():,} events; kept of the pruned:",
          list(PrunedDeliveries.objects.values_list("subscriber", "deliveries")))


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


if __name__ == "__main__":
    main()
