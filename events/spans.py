"""The bus's part in OpenTelemetry tracing: spans for publish and for each delivery, and the
trace context carried in the event's envelope.

Tracing is switched on by whoever configures a tracer provider (``observability.tracing``);
until then every function here returns at once, so a process without tracing pays one boolean
test per call. The trace context current when an event is published (the request's span, or the
delivery whose handler published it) is stored in the event's ``origin`` (``origin["trace"]``,
W3C ``traceparent``): a delivery's span links to it, so a
delivery retried an hour later by the sweeper, or replayed from the dead letters, still leads
back to the request that caused it, even though its Celery message came from another trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_tracer = trace.get_tracer("outlay.events")
_propagator = TraceContextTextMapPropagator()
_on = False


def switch_on() -> None:
    """Called once a tracer provider is installed (``observability.tracing.configure``)."""
    global _on
    _on = True


def switch_off() -> None:
    global _on
    _on = False


def current_traceparent() -> dict:
    """``{"trace": "<traceparent>"}`` for the current span, or ``{}`` (tracing off, no span)."""
    if not _on:
        return {}
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return {"trace": carrier["traceparent"]} if "traceparent" in carrier else {}


@contextlib.contextmanager
def publish_span(event_type: str) -> Iterator[None]:
    if not _on:
        yield
        return
    with _tracer.start_as_current_span(f"publish {event_type}", kind=trace.SpanKind.PRODUCER,
                                       attributes={"outlay.event_type": event_type}):
        yield


@contextlib.contextmanager
def delivery_span(subscriber: str, delivery_id: int, origin: dict | None) -> Iterator[None]:
    """The span of one delivery's run, linked to the span that published its event."""
    if not _on:
        yield
        return
    with _tracer.start_as_current_span(f"deliver {subscriber}", kind=trace.SpanKind.CONSUMER,
                                       links=_published_links([origin]),
                                       attributes={"outlay.subscriber": subscriber,
                                                   "outlay.delivery_id": delivery_id}):
        yield


@contextlib.contextmanager
def batch_span(subscriber: str, delivery_ids: list[int], origins: list[dict | None]) -> Iterator[None]:
    """The span of one call of a subscriber's batch form, linked to the span that published each
    of its events."""
    if not _on:
        yield
        return
    with _tracer.start_as_current_span(f"deliver {subscriber} (batch)", kind=trace.SpanKind.CONSUMER,
                                       links=_published_links(origins),
                                       attributes={"outlay.subscriber": subscriber,
                                                   "outlay.delivery_ids": delivery_ids}):
        yield


def _published_links(origins: list[dict | None]) -> list[trace.Link]:
    links = []
    for origin in origins:
        traceparent = (origin or {}).get("trace")
        if traceparent:
            published = trace.get_current_span(_propagator.extract({"traceparent": traceparent})).get_span_context()
            if published.is_valid:
                links.append(trace.Link(published, {"outlay.link": "published"}))
    return links
