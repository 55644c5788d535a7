"""Celery tasks of the bus. Thin: they take ids and call ``events.delivery``."""

from __future__ import annotations

from celery import shared_task

from . import delivery


@shared_task(name="events.deliver", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: int) -> str:
    """Run one delivery. Safe to receive any number of times (see ``events.delivery``)."""
    return delivery.run_delivery(delivery_id)


@shared_task(name="events.sweep", ignore_result=True)
def sweep() -> int:
    """Beat, every few seconds: send due deliveries and those whose lease expired."""
    return delivery.sweep()


@shared_task(name="events.prune_attempts")
def prune_attempts() -> int:
    """Beat, hourly: drop attempt rows of long-done deliveries (the events stay)."""
    return delivery.prune_attempts()
