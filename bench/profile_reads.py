"""Profile the reads a manager makes most, in one process: statements and time per request.

    python -m config.embedded --ephemeral -- python bench/profile_reads.py [requests] [--profile NAME]

Through Django's full middleware stack (the test client: no HTTP server), as a manager with 20
expenses waiting: the approval queue (page and API), the expense page, its status fragment
(polled every 1.5 s while processing) and the expense over the API. Prints wall time and SQL
statements per request for each, and the statements of one; with ``--profile NAME`` the top
functions of that read under cProfile. The server side of the same reads is scenario 0 of
``bench/run.py``.
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
# As bench/stack.py does: at the default 1,200 a minute the API's reads were throttled, and a
# refused request is a fast one (a run of 300 profiled 33 answers of 429).
os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")


def main() -> None:
    from bench.profile_data import profile_org, ready_database

    ready_database()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 200
    profile = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    data = profile_org("profile-reads")
    queue = data.submitted_expenses(21)
    extra = queue.pop()  # approved below; the queue stays 20
    # The reader is a manager, as in ``bench/run.py``'s scenario 0: the employee reports to them,
    # so their queue is these 20 and what they may see is their reporting line.
    from django.contrib.auth import get_user_model

    from organizations.models import Membership, Role

    manager = Membership.objects.create(user=get_user_model().objects.create_user("profile-reads-manager"),
                                        organization=data.org, role=Role.MANAGER, reports_to=data.admin)
    Membership.objects.filter(pk=data.employee.pk).update(reports_to=manager)
    page = Client()
    page.force_login(manager.user, backend="organizations.authentication.MemberModelBackend")
    api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=manager.user).key}")
    one = queue[0].pk
    # an expense just approved, its six effects still pending: the fragment as it is polled
    from expenses import services

    decided = services.expense_approve(actor=manager, expense_id=extra.pk).pk
    from django.urls import clear_url_caches

    from bench.floor import mount

    mount()  # the bare endpoint, the reference of make bench's multiples
    clear_url_caches()
    reads = {
        "floor (bench.floor)": lambda: api.get(f"/bench/floor/{one}/"),
        "approval queue (page)": lambda: page.get("/approvals/"),
        "approval queue (API)": lambda: api.get("/api/v1/expenses/awaiting-approval/"),
        "expense page": lambda: page.get(f"/expenses/{one}/"),
        "status fragment (page)": lambda: page.get(f"/expenses/{one}/status/"),
        "status fragment, processing (page)": lambda: page.get(f"/expenses/{decided}/status/"),
        "GET expense (API)": lambda: api.get(f"/api/v1/expenses/{one}/"),
    }
    for name, read in reads.items():
        for _ in range(10):
            assert read().status_code == 200, name
        started = time.perf_counter()
        for _ in range(count):
            status = read().status_code
        assert status == 200, f"{name}: {status}"
        seconds = time.perf_counter() - started  # timed without the query log: it costs per statement
        with CaptureQueriesContext(connection) as queries:
            read()
        print(f"{name}: {seconds / count * 1000:.2f} ms and {len(queries)} SQL statements per request")
        for query in queries.captured_queries:
            print("   ", (query["sql"] or "")[:140])
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(count):
            status = reads[profile]().status_code
        profiler.disable()
        assert status == 200, f"{profile}: {status}"
        stats = pstats.Stats(profiler)
        stats.sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(40)
        stats.sort_stats("cumulative").print_stats("^" + re.escape(str(ROOT)) + r"/(?!\.venv)", 30)


if __name__ == "__main__":
    main()
