"""Helpers for the tests of subscribers' batch forms (``events.registry.subscriber_batch``):
what the handlers of a subscriber's deliveries are called with, what the per-event handler lands
for them (rolled back, to compare with the batch form), and what after-commit sends reached the
broker."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from events.envelope import Envelope
from events.models import Delivery
from events.running import drain
from events.types import event_type


def handler_arguments(subscriber: str) -> list[tuple[object, Envelope]]:
    """(typed event, envelope) of each of the subscriber's deliveries, in id order (claim order):
    what its handler, or its batch form, is called with."""
    deliveries = Delivery.objects.filter(subscriber=subscriber).select_related("event").order_by("id")
    return [(event_type(d.event.type).from_payload(d.event.payload), Envelope.of(d.event, d.pk)) for d in deliveries]


def one_by_one(handler: Callable, deliveries: list[tuple[object, Envelope]], snapshot: Callable[[], object]):
    """``snapshot()`` after the per-event ``handler`` ran on each delivery in turn, in one
    transaction that is then rolled back (its after-commit sends with it): the reference a batch
    form must land exactly."""
    with transaction.atomic():
        for event, envelope in deliveries:
            handler(event, envelope)
        seen = snapshot()
        transaction.set_rollback(True)
    return seen


def queued_tasks(redis_client, queue: str = "default") -> list[tuple[str, list]]:
    """(task name, args) of every message waiting in a broker queue, oldest first."""
    messages = [json.loads(raw) for raw in reversed(redis_client.lrange(queue, 0, -1))]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages]


def drain_and_listen(subscriber: str, groups: list[str], *, batch: int = 50) -> tuple[int, list[dict]]:
    """Drain ``subscriber``'s backlog in process (``events.running.drain``) while listening on
    ``groups`` of the real channel layer; return how many ran and what was heard within a second
    after (live hints are sent after commit, from the process's hint loop)."""

    async def scenario() -> tuple[int, list[dict]]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        ran = await sync_to_async(drain)(subscriber, batch=batch, seconds=30)
        heard = []
        try:
            while True:
                heard.append(await asyncio.wait_for(layer.receive(channel), 1.0))
        except TimeoutError:
            return ran, heard

    return async_to_sync(scenario)()
