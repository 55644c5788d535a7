"""Single requests through the real web process, one at a time, with no worker running: what
does the web path cost on its own?

    .venv/bin/python bench/probe_requests.py                       # the web process as configured
    WEB_ENV=DATABASE_POOL=0 .venv/bin/python bench/probe_requests.py   # e.g. without the pool

Starts the bench stack (embedded services, uvicorn with 2 processes), then times GET /healthz,
GET of an expense and POST approve, 150-200 of each, and prints p50 and p90 in milliseconds.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["OUTLAY_EXTRA_SUBSCRIBERS"] = "bench.subscribers"

import httpx

from bench.run import Bench


def timed(client: httpx.Client, method: str, paths: list[str], **kwargs) -> str:
    took = []
    for path in paths:
        started = time.perf_counter()
        response = client.request(method, path, **kwargs)
        took.append((time.perf_counter() - started) * 1000)
        assert response.status_code < 500, (path, response.status_code)
    took.sort()
    return f"p50 {statistics.median(took):.1f} ms, p90 {took[int(len(took) * 0.9)]:.1f} ms"


def main() -> None:
    web_env = dict(pair.split("=", 1) for pair in os.environ.get("WEB_ENV", "").split(",") if pair)
    bench = Bench()
    try:
        bench.setup()
        bench.restart(web_env=web_env, worker_env={}, workers=0, beat=False)
        ids = bench.submitted_expenses(300)
        with httpx.Client(base_url=bench.stack.url, headers=bench.headers, timeout=30) as client:
            print("GET /healthz        ", timed(client, "GET", ["/healthz"] * 200))
            print("GET /api/v1/expenses/{id}/", timed(client, "GET", [f"/api/v1/expenses/{i}/" for i in ids[:200]]))
            print("POST .../approve/   ", timed(client, "POST", [f"/api/v1/expenses/{i}/approve/" for i in ids[:150]],
                                                json={}))
    finally:
        bench.stack.close()


if __name__ == "__main__":
    main()
