import logging

from .context import current


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id``, and the delivery and event being handled, to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        record.correlation_id = ctx.correlation_id if ctx else "-"
        if not hasattr(record, "delivery_id"):
            record.delivery_id = ctx.delivery_id if ctx and ctx.delivery_id else "-"
        if not hasattr(record, "event_id"):
            record.event_id = str(ctx.causation_id) if ctx and ctx.causation_id else "-"
        return True
