"""What a handler knows about the event besides its payload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from .models import Event


@dataclass(frozen=True)
class Envelope:
    """The stored event's envelope and the delivery being run, handed to every handler."""

    event_id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    organization_id: int
    aggregate_type: str
    aggregate_id: str
    sequence: int
    actor_id: int | None
    actor_label: str
    correlation_id: str
    causation_id: uuid.UUID | None
    origin: dict
    delivery_id: int

    @classmethod
    def of(cls, row: Event, delivery_id: int) -> Envelope:
        return cls(event_id=row.id, type=row.type, version=row.version, occurred_at=row.occurred_at,
                   organization_id=row.organization_id, aggregate_type=row.aggregate_type,
                   aggregate_id=row.aggregate_id, sequence=row.sequence, actor_id=row.actor_id,
                   actor_label=row.actor_label, correlation_id=row.correlation_id,
                   causation_id=row.causation_id, origin=row.origin, delivery_id=delivery_id)
