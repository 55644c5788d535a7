"""Profile a drain in one process: how fast does one drain work off a backfilled subscriber?

    python -m config.embedded --ephemeral -- python bench/profile_drain.py [events] [options]

      --batch N      a fixed batch size (default: sized by pace, as a worker's drain does)
      --per-event    no batch forms: the catch-up subscriber's per-event handler, one INSERT each
      --profile      under cProfile, and print the top functions

Writes ``events`` past events of the bench's ``bench.happened`` type straight into the log,
backfills the bench's catch-up subscriber (``bench.subscribers``) over them, and then runs
``events.running.drain`` over the backlog in this process, with no broker (the backfill's and the
drain's messages to a worker are not sent). Prints deliveries/s. The same drain with a worker
and live approvals beside it is scenario ``backfill`` of ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["OUTLAY_EXTRA_SUBSCRIBERS"] = "bench.subscribers"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("events", nargs="?", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--per-event", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.per_event:
        os.environ["BENCH_NO_BATCH_FORMS"] = "1"  # read by bench.hooks when bench.subscribers loads

    from bench.profile_data import profile_org, ready_database

    ready_database()
    from django.db import connection

    from bench.subscribers import CATCH_UP, CATCH_UP_DDL
    from events import replaying, running, sending

    org = profile_org(f"profile-drain-{uuid.uuid4().hex[:8]}").org  # a run again in the same database
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")  # a bulk load
        cursor.execute(CATCH_UP_DDL)
        cursor.execute("""
            INSERT INTO events_event (id, type, version, occurred_at, organization_id, aggregate_type,
                aggregate_id, sequence, actor_label, correlation_id, payload, origin)
            SELECT uuidv7(make_interval(secs => g - %s)), 'bench.happened', 1, now() - make_interval(secs => %s - g),
                   %s, 'bench', %s || g, 1, '', 'profile-drain', jsonb_build_object('key', %s || g), '{}'
            FROM generate_series(1, %s) g""",
                       [args.events, args.events, org.pk, org.slug, org.slug, args.events])
        cursor.execute("ANALYZE events_event")
    # No broker here: the drains the backfill would start in a worker are run below instead.
    sending.drain_rollback_unsafe = lambda name: True

    started = time.perf_counter()
    created = replaying.backfill(CATCH_UP, max_waiting=10**9)
    print(f"backfill: {created} deliveries written in {time.perf_counter() - started:.2f} s")

    profiler = cProfile.Profile()
    if args.profile:
        profiler.enable()
    started = time.perf_counter()
    ran = running.drain(CATCH_UP, batch=args.batch or None, seconds=3600)
    seconds = time.perf_counter() - started
    profiler.disable()
    mode = (f"batches of {args.batch}" if args.batch else "batches sized by pace") + (
        ", per-event handler" if args.per_event else ", batch form") + (", under cProfile" if args.profile else "")
    print(f"drain: {ran} deliveries in {seconds:.2f} s = {ran / seconds:.0f}/s ({mode})")
    if args.profile:
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
