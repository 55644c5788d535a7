"""Webhooks hear every event a domain app publishes through one bus subscriber.

``webhooks.enqueue`` writes the event's webhooks (one per matching endpoint) inside the bus
delivery's transaction: they commit with "done", so the outbox's guarantees carry over (no
webhook for an event that rolled back, none lost, none created twice). Its event types are named
when the app is ready, after every app's event types are known; test and benchmark types and
the bus's and webhooks' own events are not among them.
"""

from __future__ import annotations

from events.envelope import Envelope
from events.registry import subscriber, subscriber_batch

from .queries import eligible_event_types
from .services import EnqueuedEvent, webhooks_enqueue, webhooks_enqueue_many

NAME = "webhooks.enqueue"


def enqueue(event, envelope) -> None:
    """Creates one webhook per enabled endpoint of the organisation that wants this event type."""
    webhooks_enqueue(organization_id=envelope.organization_id, aggregate_type=envelope.aggregate_type,
                     aggregate_id=envelope.aggregate_id, sequence=envelope.sequence)


def enqueue_batch(deliveries: list[tuple[object, Envelope]]) -> None:
    """The same for a batch of deliveries, in one statement for all of them."""
    webhooks_enqueue_many(events=[EnqueuedEvent(envelope.organization_id, envelope.aggregate_type,
                                                envelope.aggregate_id, envelope.sequence)
                                  for _, envelope in deliveries])


def register() -> None:
    types = eligible_event_types()
    if types:
        subscriber(*types, name=NAME, max_attempts=20, label="Webhooks queued")(enqueue)
        subscriber_batch(NAME)(enqueue_batch)
