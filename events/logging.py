import logging

from opentelemetry import trace

from .context import current


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id``, the delivery and event being handled, and the OpenTelemetry trace
    and span (``-`` when tracing is off or no span is current) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        record.correlation_id = ctx.correlation_id if ctx else "-"
        if not hasattr(record, "delivery_id"):
            record.delivery_id = ctx.delivery_id if ctx and ctx.delivery_id else "-"
        if not hasattr(record, "event_id"):
            record.event_id = str(ctx.causation_id) if ctx and ctx.causation_id else "-"
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else "-"
        record.span_id = format(span.span_id, "016x") if span.is_valid else "-"
        return True
