from __future__ import annotations

import shutil

import pytest

from tests.support.processes import WebProcess

TOKEN = "test-metrics-token-0123456789"


@pytest.fixture
def metrics_env(tmp_path):
    """What every process of a stack under test shares for metrics: one token, and one empty
    prometheus_client multiprocess directory (its files are summed by ``/metrics``)."""
    directory = tmp_path / "prometheus-multiproc"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    return {"PROMETHEUS_MULTIPROC_DIR": str(directory), "METRICS_TOKEN": TOKEN}


@pytest.fixture
def web_process(transactional_db, metrics_env):
    """Start the real ASGI server with ``start(**env)``; stopped after the test."""
    started: list[WebProcess] = []

    def start(**env: str) -> WebProcess:
        web = WebProcess(**{**metrics_env, **env})
        started.append(web)
        return web

    yield start
    for web in started:
        web.stop()


class _Spans:
    """An in-memory exporter behind a processor installed once per test process (OpenTelemetry
    allows one tracer provider per process); emptied for each test that asks for it."""

    exporter = None

    @classmethod
    def install(cls):
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from observability import tracing

        first = cls.exporter is None
        if first:
            cls.exporter = InMemorySpanExporter()
        tracing.configure(SimpleSpanProcessor(cls.exporter) if first else None)
        cls.exporter.clear()
        return cls.exporter


@pytest.fixture
def spans():
    """Tracing on in this process for one test (Django, Celery, psycopg, redis instrumented, the
    bus's spans on); the finished spans are ``spans.get_finished_spans()``. Uninstrumented after."""
    from observability import tracing

    exporter = _Spans.install()
    yield exporter
    tracing.unconfigure()
    exporter.clear()


@pytest.fixture
def thread_worker(transactional_db, redis_client):
    """A real Celery worker consuming the real Redis broker, in a thread of this process, so its
    spans reach this process's in-memory exporter."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from config.celery import app

    def close_connections(**_kwargs):  # each worker thread's own: none is left open after the test
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10,
                          queues=["default", "events", "fanout"], loglevel="WARNING"):
            yield
    finally:
        task_postrun.disconnect(close_connections)
