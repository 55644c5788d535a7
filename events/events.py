"""Event types the bus itself publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from .types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class DeliveryDead(DomainEvent):
    """A subscriber gave up on an event after its last attempt; the delivery waits for a replay."""

    type: ClassVar[str] = "delivery.dead"
    version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "delivery"
    aggregate_field: ClassVar[str] = "delivery_id"

    delivery_id: int
    event_id: UUID
    event_type: str
    subscriber: str
    error: str
    aggregate_type_of_event: str = ""
    aggregate_id_of_event: str = ""
