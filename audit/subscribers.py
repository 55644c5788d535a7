from events.registry import ALL_EVENTS, subscriber

from .services import audit_append


@subscriber(ALL_EVENTS, name="audit.record", max_attempts=20, label="Audited")
def record(event, envelope) -> None:
    """Records every event, of every type present and future, in its organisation's hash chain."""
    audit_append(event=event, envelope=envelope)
