from core.errors import DomainError


class EventBusError(DomainError):
    code = "event_bus_error"
    http_status = 500


class UnknownEventType(EventBusError):
    code = "unknown_event_type"


class InvalidEvent(EventBusError):
    code = "invalid_event"


class NotInTransaction(EventBusError):
    code = "not_in_transaction"
