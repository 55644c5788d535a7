from events.registry import ALL_EVENTS, subscriber, subscriber_batch

from .services import audit_append, audit_append_many


@subscriber(ALL_EVENTS, name="audit.record", max_attempts=20, label="Audited")
def record(event, envelope) -> None:
    """Records every event, of every type present and future, in its organisation's hash chain."""
    audit_append(event=event, envelope=envelope)


@subscriber_batch("audit.record")
def record_batch(deliveries) -> None:
    """The same for a batch of deliveries, in their order: each organisation's chain head is locked
    and moved once, and the entries are inserted in one statement."""
    audit_append_many(events=deliveries)
