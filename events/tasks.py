"""Celery tasks of the bus: the worker's entry points. Thin: they take ids and call
``events.running`` (run a delivery), ``events.sending`` (fan out, sweep) or ``events.retention``.

This module sits on top of the bus: nothing in ``events`` imports it (messages are sent by
task name, see ``events.sending``)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from . import retention, running, sending

SWEEP_LOCK = "outlay:events:sweep-lock"
PRUNE_LOCK = "outlay:events:prune-lock"


@shared_task(name=sending.DELIVER_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: int) -> str:
    """Run one delivery, and up to ``OUTBOX_BATCH_SIZE - 1`` more of its subscriber's if a backlog
    waits. Safe to receive any number of times (see ``events.running``)."""
    return running.run_delivery(delivery_id, batch=settings.OUTBOX_BATCH_SIZE)


@shared_task(name=sending.DRAIN_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def drain(subscriber: str) -> int:
    """Work off a subscriber's backlog in batches for a while, then send itself again if needed."""
    return running.drain(subscriber, yield_to_waiting=True)


@shared_task(name=sending.FAN_OUT_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def fan_out(deliveries: list[list]) -> int:
    """Send one ``events.deliver`` task per [delivery id, subscriber] of a committed event (the
    request sent only this one message). Sending twice is harmless: deliveries run once."""
    return sending.fan_out_rollback_unsafe([(delivery_id, name) for delivery_id, name in deliveries])


@shared_task(name="events.sweep", ignore_result=True)
def sweep() -> int:
    """Beat, every few seconds: send due deliveries and those whose lease expired.

    One sweep at a time (a Redis lock): sweeps that pile up behind a busy worker return at once
    instead of each sending the same backlog; beat also gives each sweep message an expiry."""
    try:
        if not cache.add(SWEEP_LOCK, "1", timeout=settings.OUTBOX_LEASE_SECONDS):
            return 0
    except Exception:  # noqa: BLE001 - the lock only saves work; without Redis, sweep anyway
        return sending.sweep()
    try:
        return sending.sweep()
    finally:
        cache.delete(SWEEP_LOCK)


@shared_task(name="events.prune_attempts")
def prune_attempts() -> int:
    """Beat, hourly: drop attempt rows of long-done deliveries (the events stay)."""
    return retention.prune_attempts()


@shared_task(name="events.prune_deliveries", ignore_result=True)
def prune_deliveries() -> int:
    """Beat, hourly: drop done deliveries past their retention, in bounded chunks (the events
    stay, and a backfill still knows they were delivered). One at a time: a first prune of a
    large outbox may outlast the hour, and a second would only walk the same rows behind it."""
    try:
        if not cache.add(PRUNE_LOCK, "1", timeout=3600):
            return 0
    except Exception:  # noqa: BLE001 - the lock only saves work; without Redis, prune anyway
        return retention.prune_deliveries().deleted
    try:
        return retention.prune_deliveries().deleted
    finally:
        cache.delete(PRUNE_LOCK)
