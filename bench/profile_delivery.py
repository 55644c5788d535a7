"""Profile the delivery path in one process: where does a delivery's time go?

    python -m config.embedded --ephemeral -- python bench/profile_delivery.py [approvals] [options]

      --batch N      run each subscriber's deliveries in batches of N (``events.running.drain``),
                     as a worker does with a backlog; without it, one ``run_delivery`` each
      --per-event    no batch forms (``events.registry.subscriber_batch``): every handler runs per
                     delivery in its own savepoint (the comparison for ``--batch``)
      --no-profile   no cProfile (its overhead distorts the times)
      --only A,B     run only these subscribers' deliveries (the others stay pending)

Approves expenses through the command (after-commit dispatch replaced by a list), then runs
every delivery, and prints SQL statements and wall time per delivery, per subscriber and in
all, plus the top functions by cumulative and own time. No Celery: the broker side is measured
by the no-op scenario of ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("approvals", nargs="?", type=int, default=200)
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--per-event", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated subscriber names")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", "--no-input", verbosity=0)
    from bench.profile_data import profile_org
    from events.registry import wrap_handlers
    from events.running import drain, run_delivery
    from events.sending import route_committed_deliveries
    from expenses.services import expense_approve

    if args.per_event:
        wrap_handlers(lambda sub: sub.handler)  # the same handlers, without their batch forms

    count = args.approvals
    data = profile_org(f"profile-delivery-{uuid.uuid4().hex[:8]}")  # a run again in the same database
    admin, rows = data.admin, data.submitted_expenses(count)

    sent: list[tuple[int, str]] = []
    route_committed_deliveries(sent.extend)  # no broker in this profile
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        for row in rows:
            expense_approve(actor=admin, expense_id=row.pk)
        seconds = time.perf_counter() - started
    print(f"{count} approvals, {len(sent)} deliveries; expense_approve {seconds / count * 1000:.2f} ms and "
          f"{len(queries) / count:.1f} SQL statements per approval (dispatch excluded)")

    profiler = cProfile.Profile()
    statements: Counter[str] = Counter()
    seconds_of: Counter[str] = Counter()
    if args.only:
        sent = [(delivery_id, name) for delivery_id, name in sent if name in args.only.split(",")]
    deliveries_of = Counter(name for _, name in sent)
    current = ""

    def count_statements(execute, sql, params, many, context):
        statements[current] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_statements):
        if not args.no_profile:
            profiler.enable()
        if args.batch:
            for current in sorted(deliveries_of):
                started = time.perf_counter()
                drain(current, batch=args.batch, seconds=3600)
                seconds_of[current] += time.perf_counter() - started
        else:
            for delivery_id, current in sent:
                started = time.perf_counter()
                run_delivery(delivery_id)
                seconds_of[current] += time.perf_counter() - started
        profiler.disable()
    mode = (f"batches of {args.batch}" if args.batch else "one at a time") + (
        ", no batch forms" if args.per_event else "") + ("" if args.no_profile else ", under cProfile")
    print(f"deliveries run {mode}:")
    print(f"  {'subscriber':45} {'deliveries':>10} {'SQL/delivery':>13} {'ms/delivery':>12}")
    for name in sorted(deliveries_of):
        n = deliveries_of[name]
        print(f"  {name:45} {n:>10} {statements[name] / n:>13.2f} {seconds_of[name] / n * 1000:>12.3f}")
    total = len(sent)
    print(f"  {'all':45} {total:>10} {sum(statements.values()) / total:>13.2f} "
          f"{sum(seconds_of.values()) / total * 1000:>12.3f}")
    from django.db.models import Count

    from events.models import Attempt, Delivery

    print("deliveries by status:", dict(Delivery.objects.filter(event__organization_id=data.org.pk)
                                        .values_list("status").annotate(n=Count("id"))),
          "attempts by outcome:", dict(Attempt.objects.filter(delivery__organization_id=data.org.pk)
                                       .values_list("outcome").annotate(n=Count("id"))))
    if not args.no_profile:
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
