"""Profile the reads a manager makes most, in one process: statements and time per request.

    python -m config.embedded --ephemeral -- python bench/profile_reads.py [requests] [--profile NAME]

Through Django's full middleware stack (the test client: no HTTP server), the reads of
``bench/read_set.py``. Prints wall time and SQL
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


def main() -> None:
    from bench.profile_data import ready_database
    from bench.read_set import prepare

    ready_database()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 200
    profile = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    reads = prepare()
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
