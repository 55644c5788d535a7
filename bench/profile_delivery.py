"""Profile the delivery path in one process: where does a delivery's time go?

    python -m config.embedded --ephemeral -- python bench/profile_delivery.py [approvals]

Approves expenses through the command (after-commit dispatch replaced by a list), then runs
every delivery through ``events.running.run_delivery`` under cProfile, and prints the top
functions by cumulative and own time, plus SQL statements and wall time per delivery. No Celery:
the broker side is measured by the no-op scenario of ``bench/run.py``.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", "--no-input", verbosity=0)
    from bench.profile_data import profile_org
    from events.running import run_delivery
    from events.sending import route_committed_deliveries
    from expenses.services import expense_approve

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    data = profile_org("profile-delivery")
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
    executed = 0

    def count(execute, sql, params, many, context):
        nonlocal executed
        executed += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        profiler.enable()
        for delivery_id, _ in sent:
            run_delivery(delivery_id)
        profiler.disable()
        seconds = time.perf_counter() - started
    print(f"run_delivery: {seconds / len(sent) * 1000:.2f} ms per delivery (under cProfile), "
          f"{executed / len(sent):.1f} SQL statements per delivery")
    from django.db.models import Count

    from events.models import Attempt, Delivery

    print("deliveries by status:", dict(Delivery.objects.values_list("status").annotate(n=Count("id"))),
          "attempts by outcome:", dict(Attempt.objects.values_list("outcome").annotate(n=Count("id"))))
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
