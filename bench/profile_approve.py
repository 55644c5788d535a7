"""Profile the approve request in one process: where does ``POST /api/v1/expenses/{id}/approve/`` spend its time?

    python -m config.embedded --ephemeral -- python bench/profile_approve.py [approvals] [--phases]

Sends the requests through Django's full middleware and DRF stack (the test client: no HTTP
server, no ASGI thread hop) with token authentication, the real after-commit fan-out message
to the embedded Redis, and prints wall time and SQL statements per request, then the top
functions by cumulative and own time under cProfile. The server side of the same request is
measured by scenario 1 of ``bench/run.py``.

``--phases`` instead times the approve command's own steps (the service alone, no HTTP): the
lock, the approvals and budget reads, the writes and the publish, per approval, no profiler.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def phases(count: int) -> None:
    """Per approval: the whole command (its commit and the after-commit send included) and each
    step of it, timed around the service's own functions."""
    from collections import defaultdict

    from bench.profile_data import profile_org
    from expenses import services

    took: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took[name] += time.perf_counter() - started
        return wrapper

    for module, name in [(services, "_lock"), (services, "approvals_given"), (services, "approvals_and_spend"),
                         (services, "check_approvable"),
                         (services, "check_budget"), (services, "_save_decision"), (services, "publish")]:
        if hasattr(module, name):  # an older checkout may not have every step
            setattr(module, name, timed(name, getattr(module, name)))
    data = profile_org("profile-phases")
    rows = data.submitted_expenses(count + 20)
    for row in rows[:20]:
        services.expense_approve(actor=data.admin, expense_id=row.pk)
    took.clear()
    started = time.perf_counter()
    for row in rows[20:]:
        services.expense_approve(actor=data.admin, expense_id=row.pk)
    total = time.perf_counter() - started
    print(f"{count} approvals: {total / count * 1000:.3f} ms each (the command alone, commit and send included)")
    for name, seconds in took.items():
        print(f"    {name:18} {seconds / count * 1000:.3f} ms")


def main() -> None:
    from bench.profile_data import profile_org, ready_database

    ready_database()
    if "--phases" in sys.argv:
        count = int(next((a for a in sys.argv[1:] if not a.startswith("--")), "300"))
        phases(count)
        return
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    count = int(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else 300
    data = profile_org("profile-approve")
    rows = data.submitted_expenses(count)
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=data.admin.user).key}")
    warm, measured = rows[:20], rows[20:]
    for row in warm:
        assert client.post(f"/api/v1/expenses/{row.pk}/approve/").status_code == 200

    started = time.perf_counter()
    for row in measured[:-1]:
        client.post(f"/api/v1/expenses/{row.pk}/approve/")
    seconds = time.perf_counter() - started  # timed without the query log: it costs per statement
    with CaptureQueriesContext(connection) as queries:
        client.post(f"/api/v1/expenses/{measured[-1].pk}/approve/")
    print(f"{len(measured) - 1} approve requests: {seconds / (len(measured) - 1) * 1000:.2f} ms and "
          f"{len(queries)} SQL statements per request (no profiler)")
    for query in queries.captured_queries:
        print("   ", (query["sql"] or "")[:150])

    more = data.submitted_expenses(len(measured))
    profiler = cProfile.Profile()
    profiler.enable()
    for row in more:
        client.post(f"/api/v1/expenses/{row.pk}/approve/")
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(20)
    # Outlay's own functions by cumulative time: where the request's share of the work goes.
    pstats.Stats(profiler).sort_stats("cumulative").print_stats("^" + re.escape(str(ROOT)) + r"/(?!\.venv)", 40)


if __name__ == "__main__":
    main()
