"""``LOG_FORMAT=json``: a real worker writes one JSON object per line, with the correlation,
event, delivery and trace ids of the delivery it logs about."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from django.conf import settings
from django.db import transaction

from events.context import TraceContext, tracing
from events.models import Delivery
from events.publishing import publish
from tests.support.processes import wait_until
from tests.support.subscribers import Pinged

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and throws them away (tracing on, nothing to look at)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def otlp_sink():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _json_lines(text: str) -> list[dict]:
    """Every line from the first log record on (Celery prints its banner before logging starts)."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    return [json.loads(line) for line in lines[first:] if line.strip()]


def test_json_logs_parse_line_by_line_and_carry_the_ids(celery_processes, effects, otlp_sink):
    redis.Redis.from_url(settings.REDIS_URL).set("test:fail:test.flaky", "1")
    worker = celery_processes.worker(LOG_FORMAT="json", OTEL_EXPORTER_OTLP_ENDPOINT=otlp_sink)
    with tracing(TraceContext(correlation_id="json-logs-test")), transaction.atomic():
        event = publish(Pinged(key="j1"), organization_id=1)
    flaky = Delivery.objects.get(event_id=event.id, subscriber="test.flaky")

    wait_until(lambda: '"delivery failed' in worker.output(), message="a failed attempt logged")

    records = _json_lines(worker.output())  # raises if any line is not JSON
    assert {"time", "level", "logger", "message"} <= set(records[0])
    failure = next(r for r in records if r["message"].startswith("delivery failed"))
    assert failure["level"] == "WARNING" and failure["logger"].startswith("events")
    assert failure["delivery_id"] == flaky.pk
    assert failure["event_id"] == str(event.id)
    assert failure["correlation_id"] == "json-logs-test"
    assert len(failure["trace_id"]) == 32 and failure["trace_id"] != "0" * 32
