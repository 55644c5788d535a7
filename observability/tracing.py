"""OpenTelemetry tracing: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.

Off, nothing of the SDK is imported and no instrumentation wraps anything: the bus's few calls
into the OpenTelemetry API (``events.tracing``) go to its no-op tracer. On, every process (web,
worker, beat, a management command) gets a tracer provider exporting over OTLP/HTTP in batches,
and Django, Celery, psycopg and redis are instrumented. The standard ``OTEL_*`` variables
(``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``, ``OTEL_EXPORTER_OTLP_HEADERS`` ...) are read by
the SDK itself.
"""

from __future__ import annotations

import os

_configured = False


def enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_from_environment() -> None:
    if enabled():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        configure(BatchSpanProcessor(OTLPSpanExporter()))


def configure(processor) -> None:
    """Install a tracer provider with ``processor`` and instrument the libraries (once per
    process; tests pass a ``SimpleSpanProcessor`` around an in-memory exporter)."""
    global _configured
    if _configured:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "outlay")}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False)
    RedisInstrumentor().instrument()
    _configured = True
