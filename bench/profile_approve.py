"""Profile the approve request in one process: where does ``POST /api/v1/expenses/{id}/approve/`` spend its time?

    python -m config.embedded --ephemeral -- python bench/profile_approve.py [approvals]

Sends the requests through Django's full middleware and DRF stack (the test client: no HTTP
server, no ASGI thread hop) with token authentication, the real after-commit fan-out message
to the embedded Redis, and prints wall time and SQL statements per request, then the top
functions by cumulative and own time under cProfile. The server side of the same request is
measured by scenario 1 of ``bench/run.py``.
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


def main() -> None:
    from bench.profile_data import profile_org, ready_database

    ready_database()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    data = profile_org("profile-approve")
    rows = data.submitted_expenses(count)
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=data.admin.user).key}")
    warm, measured = rows[:20], rows[20:]
    for row in warm:
        assert client.post(f"/api/v1/expenses/{row.pk}/approve/").status_code == 200

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        for row in measured:
            client.post(f"/api/v1/expenses/{row.pk}/approve/")
        seconds = time.perf_counter() - started
    print(f"{len(measured)} approve requests: {seconds / len(measured) * 1000:.2f} ms and "
          f"{len(queries) / len(measured):.1f} SQL statements per request (no profiler)")
    for query in queries.captured_queries[: len(queries) // len(measured)]:
        print("   ", query["sql"][:150])

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
