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


def configure(processor=None) -> None:
    """Install a tracer provider (once per process) with ``processor``, and instrument the
    libraries. Tests pass a ``SimpleSpanProcessor`` around an in-memory exporter, and call
    ``unconfigure`` afterwards so the next test runs uninstrumented."""
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

    from events import spans

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # OpenTelemetry allows one provider per process
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME",
                                                                                         "outlay")}))
        trace.set_tracer_provider(provider)
    if processor is not None:
        provider.add_span_processor(processor)
    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False)
    RedisInstrumentor().instrument()
    spans.switch_on()
    _configured = True


def unconfigure() -> None:
    """Undo ``configure``'s instrumentation (tests); the provider stays, as OpenTelemetry wants."""
    global _configured
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    from events import spans

    for instrumentor in (DjangoInstrumentor(), CeleryInstrumentor(), PsycopgInstrumentor(), RedisInstrumentor()):
        instrumentor.uninstrument()
    spans.switch_off()
    _configured = False
