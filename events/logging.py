import logging

from .context import current


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id`` (and the delivery being handled) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        record.correlation_id = ctx.correlation_id if ctx else "-"
        if not hasattr(record, "delivery_id"):
            record.delivery_id = ctx.delivery_id if ctx else None
        return True
