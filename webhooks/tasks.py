"""Celery tasks of the webhooks app. Thin: ids in, ``webhooks.sending`` does the work."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from . import sending

SCHEDULE_LOCK = "outlay:webhooks:schedule-lock"
SCHEDULE_AGAIN = "outlay:webhooks:schedule-again"


@shared_task(name="webhooks.send", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send(delivery_id: int, token: str) -> str:
    """One try of one claimed webhook (queue ``webhooks``). A repeated message finds the lease
    token spent and does nothing."""
    return sending.send_one(delivery_id, token)


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
    return total
