"""Celery tasks of the webhooks app. Thin: ids in, ``webhooks.sending`` does the work."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from . import sending

SCHEDULE_LOCK = "outlay:webhooks:schedule-lock"
HAND_OVERS = 50  # successive webhooks one task sends for a busy endpoint before it yields
SCHEDULE_AGAIN = "outlay:webhooks:schedule-again"


@shared_task(name="webhooks.send", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send(delivery_id: int, token: str) -> str:
    """Tries of claimed webhooks (queue ``webhooks``): this one, then those its endpoint hands
    on after each success, up to HAND_OVERS, then the rest is left to the scheduler. A repeated
    message finds the lease token spent and does nothing."""
    outcome, successor = sending.send_one(delivery_id, token)
    for _ in range(HAND_OVERS):
        if successor is None:
            break
        outcome, successor = sending.send_one(*successor)
    if successor is not None:  # the batch is over: its claim goes as a task of its own
        send.apply_async(successor, queue=settings.WEBHOOK_QUEUE, retry=False)
    return outcome


@shared_task(name="webhooks.schedule", ignore_result=True)
def schedule() -> int:
    """Beat and after-commit kicks: claim the webhooks that may go now.

    One round at a time (a Redis lock: the per-endpoint in-flight bound counts on it). A kick
    that finds a round running asks it to go once more instead of waiting for the next tick, so
    the next webhook of a line goes as soon as the one before it is delivered."""
    try:
        if not cache.add(SCHEDULE_LOCK, "1", timeout=60):
            cache.set(SCHEDULE_AGAIN, "1", timeout=60)
            return 0
    except Exception:  # noqa: BLE001 - without Redis there is no broker either; nothing to send to
        return 0
    total = 0
    try:
        for _ in range(20):  # bounded: a steady stream of kicks is served by the next task anyway
            cache.delete(SCHEDULE_AGAIN)
            total += sending.schedule_round()
            if not cache.get(SCHEDULE_AGAIN):
                break
    finally:
        cache.delete(SCHEDULE_LOCK)
    # A kick that came between our last look and the unlock found the lock held and left only
    # the flag: send it on, or it would wait for the next beat tick.
    if cache.get(SCHEDULE_AGAIN):
        schedule.apply_async(retry=False)
    return total
