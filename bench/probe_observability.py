"""What the observability hooks cost per call, in one process (issue 22): the bus's attempt
counter and histogram and the HTTP middleware's two updates in prometheus_client's multiprocess
mode, and the bus's span hooks with tracing off. No database or broker is needed.

    .venv/bin/python bench/probe_observability.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["METRICS_TOKEN"] = "probe"
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="outlay-probe-")  # before prometheus_client loads
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)

import django

django.setup()

from django.utils import timezone  # noqa: E402

from events import instruments, spans  # noqa: E402
from observability.metrics import HTTP_LATENCY, HTTP_RESPONSES  # noqa: E402

CALLS = 20_000


def per_call_us(fn) -> float:
    return min(timeit.repeat(fn, number=CALLS, repeat=3)) / CALLS * 1e6


def http() -> None:
    HTTP_LATENCY.labels("api-expense-approve", "POST").observe(0.05)
    HTTP_RESPONSES.labels("200", "api-expense-approve", "POST").inc()


def delivery_span() -> None:
    with spans.delivery_span("audit.record", 1, {}):
        pass


if __name__ == "__main__":
    now = timezone.now()
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"attempt counted + commit->done observed (metrics on): {per_call_us(lambda: instruments.attempt_finished('audit.record', 'done', now)):.1f} us")  # noqa: E501
    print(f"HTTP response counted + latency observed (metrics on): {per_call_us(http):.1f} us")
    print(f"traceparent for the envelope (tracing off): {per_call_us(spans.current_traceparent):.2f} us")
    print(f"delivery span (tracing off): {per_call_us(delivery_span):.2f} us")
